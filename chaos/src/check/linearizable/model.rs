//! The register model: what each operation does to one key's value, with
//! values interned as small integers so the search compares and memoizes
//! cheaply.

use std::collections::HashMap;

use history::Function;
use serde_json::Value;

use super::super::Operation;
use super::super::json::canonical;

/// A register's value: 0 is "absent", others index an interned JSON value.
pub(super) type State = u32;

pub(super) const ABSENT: State = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Step {
    Put(State),
    Get(State),
    Delete,
    /// Expected, new.
    Cas(State, State),
}

impl Step {
    /// The state after this step from `state`, or None if it cannot happen
    /// there (a get of another value, a cas whose compare fails).
    pub(super) fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Put(v) => Some(v),
            Step::Get(v) => (v == state).then_some(state),
            Step::Delete => Some(ABSENT),
            Step::Cas(expected, new) => (expected == state).then_some(new),
        }
    }

    /// The value this step leaves, if it writes.
    pub(super) fn written(self) -> Option<State> {
        match self {
            Step::Put(v) | Step::Cas(_, v) => Some(v),
            Step::Delete => Some(ABSENT),
            Step::Get(_) => None,
        }
    }

    /// The value this step needs to find, if any.
    pub(super) fn observed(self) -> Option<State> {
        match self {
            Step::Get(v) | Step::Cas(v, _) => Some(v),
            Step::Put(_) | Step::Delete => None,
        }
    }
}

/// One operation as the search sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyOp {
    pub step: Step,
    pub call: u64,
    /// None: an operation of unknown outcome, which may take effect between
    /// `call` and `deadline`, or never.
    pub ret: Option<u64>,
    /// The latest time it may take effect: its return if it has one; for
    /// an operation of unknown outcome, the end of time if it never
    /// returned, its return if it did but is no longer trusted
    /// ([`KeyOp::relaxed`]).
    pub deadline: u64,
}

impl KeyOp {
    pub(super) fn new(step: Step, call: u64, ret: Option<u64>) -> KeyOp {
        KeyOp { step, call, ret, deadline: ret.unwrap_or(u64::MAX) }
    }

    /// The operation with its outcome no longer trusted: it may or may not
    /// have taken effect, but if it did, then by the time it returned.
    pub(super) fn relaxed(self) -> KeyOp {
        KeyOp { ret: None, ..self }
    }
}

/// Translates one key's operations (none failed) to steps, in order; a cas
/// whose value is not `[expected, new]` is an error.
pub(super) fn steps(ops: &[&Operation]) -> Result<Vec<Step>, String> {
    let mut values: HashMap<String, State> = HashMap::new();
    let mut intern = |v: &Value| -> State {
        if v.is_null() {
            return ABSENT;
        }
        let next = values.len() as State + 1;
        *values.entry(canonical(v)).or_insert(next)
    };
    ops.iter()
        .map(|op| {
            Ok(match op.f {
                Function::Put => Step::Put(intern(&op.input)),
                Function::Delete => Step::Delete,
                Function::Get => Step::Get(intern(&op.output)),
                Function::Cas => match op.input.as_array().map(Vec::as_slice) {
                    Some([expected, new]) => Step::Cas(intern(expected), intern(new)),
                    _ => return Err(format!("a cas value must be [expected, new], got {}", op.input)),
                },
                Function::Append | Function::Read | Function::Transfer | Function::Add => {
                    return Err(format!("{} is not a register operation", op.f));
                }
            })
        })
        .collect()
}

/// The operations that can make a difference, with their positions in
/// `ops`: a read of unknown outcome constrains nothing, and neither does a
/// write of unknown outcome whose value no other operation reads or
/// compares against after the write's call (whatever follows it in a
/// linearization must then be another write, so leaving it out changes no
/// other operation's outcome). Dropping such a write may make another one
/// droppable, hence the loop.
pub(super) fn relevant(ops: &[KeyOp]) -> Vec<(usize, KeyOp)> {
    let mut kept: Vec<(usize, KeyOp)> = ops
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, op)| op.ret.is_some() || !matches!(op.step, Step::Get(_)))
        .collect();
    loop {
        let observers = LatestObservers::of(&kept);
        let before = kept.len();
        kept.retain(|&(i, op)| {
            op.ret.is_some() || op.step.written().is_none_or(|v| observers.observed_since(v, op.call, i))
        });
        if kept.len() == before {
            return kept;
        }
    }
}

/// For each value, the two operations observing it that may take effect
/// latest (the two, so that an operation can ask about the others).
struct LatestObservers(HashMap<State, [Option<(u64, usize)>; 2]>);

impl LatestObservers {
    fn of(ops: &[(usize, KeyOp)]) -> LatestObservers {
        let mut latest: HashMap<State, [Option<(u64, usize)>; 2]> = HashMap::new();
        for &(i, op) in ops {
            let Some(v) = op.step.observed() else { continue };
            let candidate = Some((op.deadline, i));
            // None sorts first, so any observer beats an empty slot.
            let top = latest.entry(v).or_insert([None; 2]);
            if candidate > top[0] {
                top[1] = top[0];
                top[0] = candidate;
            } else if candidate > top[1] {
                top[1] = candidate;
            }
        }
        LatestObservers(latest)
    }

    /// Whether an operation other than `op` observes `v` and may take
    /// effect at or after `time` (at equal times calls come first, so an
    /// observer returning when the write is called may still follow it).
    fn observed_since(&self, v: State, time: u64, op: usize) -> bool {
        self.0.get(&v).is_some_and(|top| top.iter().flatten().any(|&(until, i)| i != op && until >= time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_write_read_at_its_own_call_time_is_relevant() {
        // The read returns at 0, when the writes are called: it may follow
        // them. (An empty slot once outranked an observer returning at 0.)
        let ops = [
            KeyOp::new(Step::Put(1), 0, None),
            KeyOp::new(Step::Put(1), 0, None),
            KeyOp::new(Step::Get(1), 0, Some(0)),
        ];
        let kept: Vec<usize> = relevant(&ops).into_iter().map(|(i, _)| i).collect();
        assert_eq!(kept, [0, 1, 2]);
        // A write nobody reads after its call is not.
        let unread = [KeyOp::new(Step::Get(1), 0, Some(1)), KeyOp::new(Step::Put(1), 2, None)];
        assert_eq!(relevant(&unread).len(), 1);
    }
}
