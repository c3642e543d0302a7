//! Which key an operation touches: uniform, zipfian, latest, hotspot.
//!
//! Zipfian: rank r (0 = most popular) is drawn with probability
//! proportional to 1 / (r + 1)^theta, exactly (inverse CDF over a table,
//! rather than YCSB's approximation after Gray et al., whose error a
//! chi-square test at 200k draws detects). Like YCSB's default
//! (`ScrambledZipfian`), ranks are scattered over the key space, so the hot
//! keys are not all neighbours; `Latest` instead keeps rank 0 on the newest
//! key, so recently inserted keys are the hot ones.

use rand::{Rng, RngExt};

#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    Uniform,
    Zipfian {
        theta: f64,
    },
    /// Zipfian over recency: the newest key is the most popular.
    Latest {
        theta: f64,
    },
    /// `hot_ops` of the operations go to the first `hot_keys` of the keys.
    Hotspot {
        hot_keys: f64,
        hot_ops: f64,
    },
}

/// Draws key indexes in `0..count`, where `count` may grow (inserts).
#[derive(Clone)]
pub struct KeyChooser {
    distribution: Distribution,
    zipf: Option<Zipf>,
}

impl KeyChooser {
    pub fn new(distribution: Distribution, count: u64) -> KeyChooser {
        let zipf = match distribution {
            Distribution::Zipfian { theta } | Distribution::Latest { theta } => Some(Zipf::new(count, theta)),
            _ => None,
        };
        KeyChooser { distribution, zipf }
    }

    /// A key index in `0..count`.
    pub fn next(&mut self, rng: &mut impl Rng, count: u64) -> u64 {
        let count = count.max(1);
        match self.distribution {
            Distribution::Uniform => rng.random_range(0..count),
            Distribution::Zipfian { .. } => {
                let zipf = self.zipf.as_mut().expect("built for zipfian");
                zipf.grow_to(count);
                scatter(zipf.next(rng).min(count - 1), count)
            }
            Distribution::Latest { .. } => {
                let zipf = self.zipf.as_mut().expect("built for latest");
                zipf.grow_to(count);
                count - 1 - zipf.next(rng).min(count - 1)
            }
            Distribution::Hotspot { hot_keys, hot_ops } => {
                let hot = ((count as f64 * hot_keys).ceil() as u64).clamp(1, count);
                if rng.random_bool(hot_ops) || hot == count {
                    rng.random_range(0..hot)
                } else {
                    rng.random_range(hot..count)
                }
            }
        }
    }
}

/// Spreads ranks over `0..count` by an affine bijection
/// (rank * a + c) mod count, with `a` coprime to `count`: every key keeps
/// exactly its rank's probability, but neighbouring ranks land far apart.
fn scatter(rank: u64, count: u64) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let mut a: u64 = 2_654_435_761 % count.max(2);
    while gcd(a, count) != 1 {
        a += 1;
    }
    ((u128::from(rank) * u128::from(a) + 12_345) % u128::from(count)) as u64
}

/// Exact inverse-CDF sampling over a table of cumulative weights: a draw is
/// a binary search. The table grows with the key space (inserts).
#[derive(Clone)]
struct Zipf {
    theta: f64,
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(items: u64, theta: f64) -> Zipf {
        let mut z = Zipf { theta, cumulative: Vec::new() };
        z.grow_to(items.max(1));
        z
    }

    fn grow_to(&mut self, items: u64) {
        let mut sum = self.cumulative.last().copied().unwrap_or(0.0);
        for rank in self.cumulative.len() as u64..items {
            sum += 1.0 / ((rank + 1) as f64).powf(self.theta);
            self.cumulative.push(sum);
        }
    }

    /// A rank in `0..items` (the table's size); 0 is the most popular.
    fn next(&self, rng: &mut impl Rng) -> u64 {
        let total = *self.cumulative.last().expect("at least one item");
        let u = rng.random_range(0.0..total);
        self.cumulative.partition_point(|&c| c <= u) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const DRAWS: usize = 200_000;

    fn histogram(mut chooser: KeyChooser, keys: u64) -> Vec<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut counts = vec![0u64; keys as usize];
        for _ in 0..DRAWS {
            counts[chooser.next(&mut rng, keys) as usize] += 1;
        }
        counts
    }

    /// Pearson's chi-square statistic of observed counts against expected
    /// probabilities, and the bound it must stay under: the degrees of
    /// freedom plus six standard deviations (2k) of the chi-square
    /// distribution, generous enough never to flake with a fixed seed and
    /// small enough to reject a wrong distribution at these sample sizes.
    fn chi_square(observed: &[u64], expected: &[f64]) -> (f64, f64) {
        let total: u64 = observed.iter().sum();
        let stat: f64 = observed
            .iter()
            .zip(expected)
            .map(|(&o, &p)| {
                let e = p * total as f64;
                (o as f64 - e).powi(2) / e
            })
            .sum();
        let k = (observed.len() - 1) as f64;
        (stat, k + 6.0 * (2.0 * k).sqrt())
    }

    fn zipf_probabilities(n: u64, theta: f64) -> Vec<f64> {
        let weights: Vec<f64> = (0..n).map(|r| 1.0 / ((r + 1) as f64).powf(theta)).collect();
        let sum: f64 = weights.iter().sum();
        weights.iter().map(|w| w / sum).collect()
    }

    #[test]
    fn zipfian_ranks_follow_the_zipf_law() {
        // Compare rank frequencies: sort the observed counts, most popular first.
        let n = 50;
        let mut counts = histogram(KeyChooser::new(Distribution::Zipfian { theta: 0.99 }, n), n);
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let (stat, bound) = chi_square(&counts, &zipf_probabilities(n, 0.99));
        assert!(stat < bound, "chi-square {stat:.1} >= {bound:.1}");
        // And a uniform sample is rejected by the same test.
        let mut uniform = histogram(KeyChooser::new(Distribution::Uniform, n), n);
        uniform.sort_unstable_by(|a, b| b.cmp(a));
        assert!(chi_square(&uniform, &zipf_probabilities(n, 0.99)).0 > bound);
    }

    #[test]
    fn latest_makes_the_newest_keys_hot() {
        let n = 50;
        let counts = histogram(KeyChooser::new(Distribution::Latest { theta: 0.99 }, n), n);
        // Rank 0 is the newest key (index n - 1).
        let by_rank: Vec<u64> = counts.iter().rev().copied().collect();
        let (stat, bound) = chi_square(&by_rank, &zipf_probabilities(n, 0.99));
        assert!(stat < bound, "chi-square {stat:.1} >= {bound:.1}");
    }

    #[test]
    fn hotspot_sends_the_given_share_to_the_hot_keys() {
        let n = 100;
        let counts = histogram(KeyChooser::new(Distribution::Hotspot { hot_keys: 0.2, hot_ops: 0.8 }, n), n);
        // Each hot key: 0.8 / 20; each cold key: 0.2 / 80.
        let expected: Vec<f64> = (0..n).map(|k| if k < 20 { 0.8 / 20.0 } else { 0.2 / 80.0 }).collect();
        let (stat, bound) = chi_square(&counts, &expected);
        assert!(stat < bound, "chi-square {stat:.1} >= {bound:.1}");
    }

    #[test]
    fn uniform_is_uniform() {
        let n = 100;
        let counts = histogram(KeyChooser::new(Distribution::Uniform, n), n);
        let (stat, bound) = chi_square(&counts, &vec![1.0 / n as f64; n as usize]);
        assert!(stat < bound, "chi-square {stat:.1} >= {bound:.1}");
    }

    #[test]
    fn a_growing_key_space_keeps_draws_in_range() {
        let mut chooser = KeyChooser::new(Distribution::Latest { theta: 0.99 }, 10);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for count in 10..2000 {
            assert!(chooser.next(&mut rng, count) < count);
        }
    }
}
