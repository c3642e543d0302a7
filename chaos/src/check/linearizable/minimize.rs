//! Shrinks a key's non-linearizable history to a small proof.
//!
//! "Relaxing" an acknowledged operation means no longer trusting its
//! outcome: a read is dropped, a write becomes one of unknown outcome that,
//! if it took effect at all, did so by its return (what the history says
//! of it without its acknowledgement: a write acknowledged at `r` cannot
//! have taken effect later). Relaxing only adds linearizations, so a set of
//! acknowledged operations that stays non-linearizable with everything
//! else relaxed is a proof on its own: those operations cannot be
//! linearized whether or not the others took effect. Dropping an operation
//! outright would not do: a stale read without the write it went stale
//! after would "prove" a read of a value nobody wrote. Letting a relaxed
//! write take effect at any time after its call would not be wrong either,
//! but each trial would then weigh every place for each of the hundreds of
//! writes a long history relaxes, and shrinking one took seconds per trial.
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
//! every search, and take about `n`). Each search is capped, and one that
//! gives up counts as not failing; if one did, a last pass tries relaxing
//! each operation of the (by then small) proof in turn, with more room. The
//! result is minimal (relaxing any one more operation makes it
//! linearizable) unless a search of that pass gave up too, time running
//! out included.

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

/// States one trial of the first passes may explore. One that needs more
/// counts as not failing, which keeps its operations: the proof stays a
/// proof, at worst a larger one. In a long history (hundreds of operations
/// trusted among a thousand relaxed writes) a few trials take seconds to
/// refute in full, while trials that keep fewer find the same proof in
/// milliseconds.
const TRIAL_STATES: usize = 20_000;

/// States one trial of the last pass may explore, over a proof by then
/// small enough that a trial rarely needs a tenth of them.
const LAST_TRIAL_STATES: usize = 1_000_000;

/// `ops` must be non-linearizable as they are.
pub(super) fn minimize(ops: &[KeyOp], limits: &Limits) -> Proof {
    let mut shrink = Shrink { ops, limits, trial_states: TRIAL_STATES, cutoff: u64::MAX, undecided: false };
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
    if shrink.undecided {
        // A trial that gave up kept operations a decided one might have
        // let go: try relaxing each one left, with room to decide.
        shrink.undecided = false;
        shrink.trial_states = LAST_TRIAL_STATES;
        let mut i = 0;
        while i < essential.len() {
            let mut without = essential.clone();
            without.remove(i);
            if shrink.fails(&without) {
                essential = without;
            } else {
                i += 1;
            }
        }
    }
    essential.sort_unstable();
    Proof { essential, minimal: !shrink.undecided }
}

struct Shrink<'a> {
    ops: &'a [KeyOp],
    limits: &'a Limits,
    /// States one trial may explore.
    trial_states: usize,
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
                (false, _) => Some(op.relaxed()),
            })
            .collect();
        let trial: Vec<KeyOp> = relevant(&trial).into_iter().map(|(_, op)| op).collect();
        let limits = Limits { max_states: self.limits.max_states.min(self.trial_states), ..*self.limits };
        match search(&trial, &limits) {
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
    fn a_stale_read_keeps_the_two_reads_that_disagree_and_relaxes_the_writes() {
        let ops = [
            KeyOp::new(Step::Put(9), 0, Some(1)),
            KeyOp::new(Step::Get(9), 2, Some(3)),
            KeyOp::new(Step::Put(1), 4, Some(5)),
            KeyOp::new(Step::Put(2), 6, Some(7)),
            KeyOp::new(Step::Get(2), 8, Some(9)),
            KeyOp::new(Step::Get(1), 10, Some(11)),
            KeyOp::new(Step::Put(3), 12, Some(13)),
            KeyOp::new(Step::Get(3), 14, Some(15)),
        ];
        let limits =
            Limits { deadline: Instant::now() + Duration::from_secs(10), max_states: 1 << 20, memo_bytes: 1 << 30 };
        let proof = minimize(&ops, &limits);
        assert!(proof.minimal);
        // get 2, then get 1: relaxing either explains the other. Put 1 and
        // put 2, relaxed, may only have taken effect by their returns, so
        // in that order, before both reads.
        assert_eq!(proof.essential, [4, 5]);
    }
}
