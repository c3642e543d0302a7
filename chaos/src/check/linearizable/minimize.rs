//! Shrinks a key's non-linearizable history to a small proof.
//!
//! "Relaxing" an acknowledged operation means no longer trusting its
//! outcome: a read is dropped, a write becomes one of unknown outcome (it
//! may take effect at any time after its call, or never). Relaxing only
//! adds linearizations, so a set of acknowledged operations that stays
//! non-linearizable with everything else relaxed is a proof on its own:
//! those operations cannot be linearized whether and whenever the others
//! took effect. Dropping an operation outright would not do: a stale read
//! without the write it went stale after would "prove" a read of a value
//! nobody wrote.
//!
//! First the proof is cut at the earliest time `t` by which it already
//! holds (everything called after `t` could only take effect after every
//! acknowledged operation kept, so it is left out), bisecting on `t`. Then
//! QuickXplain (Junker, "QuickXplain: preferred explanations and
//! relaxations for over-constrained problems", 2004) picks the proof out of
//! what remains: split in halves, shrink one half with the other kept,
//! then the other with what the first came to. It needs about
//! `2 k log(n / k)` searches for `k` operations kept out of `n`, and each
//! of them keeps few operations, which is what makes a search cheap (deleting
//! operations one chunk at a time from the whole would keep most of them in
//! every search, and take about `n`). The result is minimal (relaxing any
//! one more operation makes it linearizable) unless a search gave up first,
//! time ran out included.

use std::time::Instant;

use super::model::{KeyOp, Step, relevant};
use super::search::{Limits, Outcome, search};

/// The acknowledged operations (positions in the key's operations) that
/// prove the key is not linearizable.
pub(super) struct Proof {
    pub essential: Vec<usize>,
    /// False when a search gave up (or time ran out) before the proof was
    /// known to be minimal.
    pub minimal: bool,
}

/// `ops` must be non-linearizable as they are.
pub(super) fn minimize(ops: &[KeyOp], limits: &Limits) -> Proof {
    let mut shrink = Shrink { ops, limits, cutoff: u64::MAX, undecided: false };
    let mut returns: Vec<u64> = ops.iter().filter_map(|op| op.ret).collect();
    returns.sort_unstable();
    returns.dedup();
    let acked_until =
        |t: u64| -> Vec<usize> { (0..ops.len()).filter(|&i| ops[i].ret.is_some_and(|r| r <= t)).collect() };
    // The earliest cutoff that still fails: failing only grows with the
    // cutoff (a later one keeps more), so bisect. The last one is the whole
    // key, known to fail.
    let (mut low, mut high) = (0, returns.len().saturating_sub(1));
    while low < high {
        let mid = (low + high) / 2;
        shrink.cutoff = returns[mid];
        if shrink.fails(&acked_until(returns[mid])) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    shrink.cutoff = returns.get(high).copied().unwrap_or(u64::MAX);
    let mut essential = shrink.explain(&mut Vec::new(), false, &acked_until(shrink.cutoff));
    essential.sort_unstable();
    Proof { essential, minimal: !shrink.undecided }
}

struct Shrink<'a> {
    ops: &'a [KeyOp],
    limits: &'a Limits,
    /// Operations called later are left out.
    cutoff: u64,
    /// A search gave up, so a "does not fail" may have been wrong.
    undecided: bool,
}

impl Shrink<'_> {
    /// Whether the operations stay non-linearizable with only the
    /// acknowledged ones in `kept` trusted (the others relaxed).
    fn fails(&mut self, kept: &[usize]) -> bool {
        if Instant::now() > self.limits.deadline {
            self.undecided = true;
            return false;
        }
        let mut trusted = vec![false; self.ops.len()];
        kept.iter().for_each(|&i| trusted[i] = true);
        let trial: Vec<KeyOp> = self
            .ops
            .iter()
            .zip(trusted)
            .filter(|(op, _)| op.call <= self.cutoff)
            .filter_map(|(op, trusted)| match (trusted, op.step) {
                (true, _) => Some(*op),
                (false, Step::Get(_)) => None,
                (false, _) => Some(KeyOp { ret: None, ..*op }),
            })
            .collect();
        let trial: Vec<KeyOp> = relevant(&trial).into_iter().map(|(_, op)| op).collect();
        match search(&trial, self.limits) {
            Outcome::NotLinearizable => true,
            Outcome::Linearizable => false,
            Outcome::GaveUp(_) => {
                self.undecided = true;
                false
            }
        }
    }

    /// The smallest part of `candidates` that fails kept with `base`, given
    /// that `base` and all of `candidates` together fail; `base_grew` says
    /// whether `base` may fail on its own. Later operations are preferred:
    /// the earlier half is shrunk first, with the later one kept whole.
    fn explain(&mut self, base: &mut Vec<usize>, base_grew: bool, candidates: &[usize]) -> Vec<usize> {
        if base_grew && self.fails(base) {
            return Vec::new();
        }
        if candidates.len() <= 1 {
            return candidates.to_vec();
        }
        let (early, late) = candidates.split_at(candidates.len() / 2);
        let outer = base.len();
        base.extend_from_slice(late);
        let mut from_early = self.explain(base, true, early);
        base.truncate(outer);
        base.extend_from_slice(&from_early);
        let from_late = self.explain(base, !from_early.is_empty(), late);
        base.truncate(outer);
        from_early.extend(from_late);
        from_early
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_stale_read_keeps_the_old_write_and_both_reads_and_drops_the_rest() {
        let ops = [
            KeyOp { step: Step::Put(9), call: 0, ret: Some(1) },
            KeyOp { step: Step::Get(9), call: 2, ret: Some(3) },
            KeyOp { step: Step::Put(1), call: 4, ret: Some(5) },
            KeyOp { step: Step::Put(2), call: 6, ret: Some(7) },
            KeyOp { step: Step::Get(2), call: 8, ret: Some(9) },
            KeyOp { step: Step::Get(1), call: 10, ret: Some(11) },
            KeyOp { step: Step::Put(3), call: 12, ret: Some(13) },
            KeyOp { step: Step::Get(3), call: 14, ret: Some(15) },
        ];
        let limits =
            Limits { deadline: Instant::now() + Duration::from_secs(10), max_states: 1 << 20, memo_bytes: 1 << 30 };
        let proof = minimize(&ops, &limits);
        assert!(proof.minimal);
        // put 1, get 2, get 1: relaxing any of them explains the rest. Put 2 may
        // take effect at any time after its call and still not explain them.
        assert_eq!(proof.essential, [2, 4, 5]);
    }
}
