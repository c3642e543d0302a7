//! The register model: what each operation does to one key's value, with
//! values interned as small integers so the search compares and memoizes
//! cheaply.

use std::collections::{HashMap, HashSet};

use history::Function;
use serde_json::Value;

use super::super::Operation;
use super::super::json::canonical;

/// A register's value: 0 is "absent", others index an interned JSON value.
pub(super) type State = u32;

pub(super) const ABSENT: State = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// None: may take effect at any time after `call`, or never.
    pub ret: Option<u64>,
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
                Function::Append | Function::Read => {
                    return Err(format!("{} is not a register operation", op.f));
                }
            })
        })
        .collect()
}

/// The operations that can make a difference, with their positions in
/// `ops`: a read of unknown outcome constrains nothing, and neither does a
/// write of unknown outcome whose value nothing reads or compares against
/// (whatever follows it must be another write, so leaving it out of a
/// linearization changes no other operation's outcome). Dropping such a
/// write may make another one droppable, hence the loop.
pub(super) fn relevant(ops: &[KeyOp]) -> Vec<(usize, KeyOp)> {
    let mut kept: Vec<(usize, KeyOp)> = ops
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, op)| op.ret.is_some() || !matches!(op.step, Step::Get(_)))
        .collect();
    loop {
        let observed: HashSet<State> = kept.iter().filter_map(|(_, op)| op.step.observed()).collect();
        let before = kept.len();
        kept.retain(|(_, op)| op.ret.is_some() || op.step.written().is_none_or(|v| observed.contains(&v)));
        if kept.len() == before {
            return kept;
        }
    }
}
