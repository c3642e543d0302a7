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
//! acknowledged operation kept, so it is left out), then chunks of what
//! remains, halving in size, are relaxed while the rest still fails. The
//! result is minimal (relaxing any one more operation makes it
//! linearizable) unless the time ran out first.

use super::model::{KeyOp, Step, relevant};
use super::search::{Limits, Outcome, search};

/// The acknowledged operations (positions in the key's operations) that
/// prove the key is not linearizable.
pub(super) struct Proof {
    pub essential: Vec<usize>,
    /// False when time ran out before the proof was minimal.
    pub minimal: bool,
}

/// `ops` must be non-linearizable as they are.
pub(super) fn minimize(ops: &[KeyOp], limits: &Limits) -> Proof {
    let fails = |keep: &[bool], cutoff: u64| {
        let trial: Vec<KeyOp> = ops
            .iter()
            .zip(keep)
            .filter(|(op, _)| op.call <= cutoff)
            .filter_map(|(op, &kept)| match (kept, op.step) {
                (true, _) => Some(*op),
                (false, Step::Get(_)) => None,
                (false, _) => Some(KeyOp { ret: None, ..*op }),
            })
            .collect();
        let trial: Vec<KeyOp> = relevant(&trial).into_iter().map(|(_, op)| op).collect();
        search(&trial, limits) == Outcome::NotLinearizable
    };

    let mut returns: Vec<u64> = ops.iter().filter_map(|op| op.ret).collect();
    returns.sort_unstable();
    returns.dedup();
    let keep_until = |t: u64| -> Vec<bool> { ops.iter().map(|op| op.ret.is_some_and(|r| r <= t)).collect() };
    // The earliest cutoff that still fails: failing only grows with the
    // cutoff (a later one keeps more), so bisect. The last one is the whole
    // key, known to fail.
    let (mut low, mut high) = (0, returns.len().saturating_sub(1));
    let mut minimal = true;
    while low < high {
        if std::time::Instant::now() > limits.deadline {
            minimal = false;
            break;
        }
        let mid = (low + high) / 2;
        if fails(&keep_until(returns[mid]), returns[mid]) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    let cutoff = returns.get(high).copied().unwrap_or(u64::MAX);
    let mut keep = keep_until(cutoff);

    let mut kept: Vec<usize> = (0..ops.len()).filter(|&i| keep[i]).collect();
    let mut chunk = kept.len().div_ceil(2).max(1);
    loop {
        let mut start = 0;
        while start < kept.len() {
            if std::time::Instant::now() > limits.deadline {
                return Proof { essential: kept, minimal: false };
            }
            let end = (start + chunk).min(kept.len());
            for &i in &kept[start..end] {
                keep[i] = false;
            }
            if fails(&keep, cutoff) {
                kept.drain(start..end);
            } else {
                for &i in &kept[start..end] {
                    keep[i] = true;
                }
                start = end;
            }
        }
        if chunk == 1 {
            return Proof { essential: kept, minimal };
        }
        chunk = chunk.div_ceil(2);
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
