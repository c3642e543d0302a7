//! Pairing invocations with their completions, which is also how a history
//! is checked for being well formed: each process runs one operation at a
//! time, completes only what it invoked (same function, same key, not
//! earlier than the invocation), completes it at most once, and issues
//! nothing after an `info`.

use std::collections::HashMap;

use crate::{Event, EventType, Function};

/// An invocation and its completion, as positions in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub invoke: usize,
    /// None: the history ends before the operation completes (as good as
    /// `info`: its outcome is unknown).
    pub completion: Option<usize>,
}

/// Why a history is not well formed. Each variant names the position
/// (from 0) of the offending event in the history; [`InvalidHistory::index`]
/// returns it so a caller can turn it into a line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHistory {
    #[error("process {process} completes an operation it has not invoked (or completes it twice)")]
    CompletionWithoutInvoke { index: usize, process: u64 },
    #[error("process {process} invokes again while its operation invoked at event {pending} is still pending")]
    InvokeWhilePending { index: usize, process: u64, pending: usize },
    #[error(
        "process {process} completes a {got} on key {got_key:?}, but it invoked a {expected} on key {expected_key:?}"
    )]
    Mismatched { index: usize, process: u64, expected: Function, expected_key: String, got: Function, got_key: String },
    #[error("process {process} completes at {time_ns} ns, before its invocation at {invoked_ns} ns")]
    CompletionBeforeInvoke { index: usize, process: u64, time_ns: u64, invoked_ns: u64 },
    #[error("process {process} acts again after its info completion at event {info}")]
    AfterInfo { index: usize, process: u64, info: usize },
}

impl InvalidHistory {
    /// The position (from 0) of the offending event.
    pub fn index(&self) -> usize {
        match *self {
            InvalidHistory::CompletionWithoutInvoke { index, .. }
            | InvalidHistory::InvokeWhilePending { index, .. }
            | InvalidHistory::Mismatched { index, .. }
            | InvalidHistory::CompletionBeforeInvoke { index, .. }
            | InvalidHistory::AfterInfo { index, .. } => index,
        }
    }
}

/// Pairs every invocation with its completion, in invocation order.
pub fn pair(events: &[Event]) -> Result<Vec<Pair>, InvalidHistory> {
    // Process -> its pending invocation, as an index into `pairs`.
    let mut pending: HashMap<u64, usize> = HashMap::new();
    // Process -> the position of its info completion.
    let mut retired: HashMap<u64, usize> = HashMap::new();
    let mut pairs: Vec<Pair> = Vec::new();
    for (index, e) in events.iter().enumerate() {
        let process = e.process;
        if let Some(&info) = retired.get(&process) {
            return Err(InvalidHistory::AfterInfo { index, process, info });
        }
        if e.kind == EventType::Invoke {
            if let Some(&at) = pending.get(&process) {
                return Err(InvalidHistory::InvokeWhilePending { index, process, pending: pairs[at].invoke });
            }
            pending.insert(process, pairs.len());
            pairs.push(Pair { invoke: index, completion: None });
            continue;
        }
        let at = pending.remove(&process).ok_or(InvalidHistory::CompletionWithoutInvoke { index, process })?;
        let invoke = &events[pairs[at].invoke];
        if (invoke.f, &invoke.key) != (e.f, &e.key) {
            return Err(InvalidHistory::Mismatched {
                index,
                process,
                expected: invoke.f,
                expected_key: invoke.key.clone(),
                got: e.f,
                got_key: e.key.clone(),
            });
        }
        if e.time_ns < invoke.time_ns {
            return Err(InvalidHistory::CompletionBeforeInvoke {
                index,
                process,
                time_ns: e.time_ns,
                invoked_ns: invoke.time_ns,
            });
        }
        pairs[at].completion = Some(index);
        if e.kind == EventType::Info {
            retired.insert(process, index);
        }
    }
    Ok(pairs)
}

/// Whether the history is well formed (see [`pair`]).
pub fn validate(events: &[Event]) -> Result<(), InvalidHistory> {
    pair(events).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ev(process: u64, kind: EventType, f: Function, key: &str, time_ns: u64) -> Event {
        Event { process, kind, f, key: key.into(), value: Value::Null, time_ns, extra: Default::default() }
    }

    use EventType::*;
    use Function::*;

    #[test]
    fn pairs_interleaved_processes_and_leaves_the_unfinished_open() {
        let events = [
            ev(1, Invoke, Put, "a", 1),
            ev(2, Invoke, Get, "a", 2),
            ev(2, Ok, Get, "a", 3),
            ev(1, Info, Put, "a", 4),
            ev(2, Invoke, Delete, "a", 5),
        ];
        let pairs = pair(&events).unwrap();
        assert_eq!(
            pairs,
            [
                Pair { invoke: 0, completion: Some(3) },
                Pair { invoke: 1, completion: Some(2) },
                Pair { invoke: 4, completion: None },
            ]
        );
    }

    #[test]
    fn each_malformation_is_named_with_its_event() {
        let cases: [(&[Event], usize, &str); 6] = [
            (&[ev(1, Ok, Put, "a", 1)], 0, "has not invoked"),
            (&[ev(1, Invoke, Put, "a", 1), ev(1, Ok, Put, "a", 2), ev(1, Ok, Put, "a", 3)], 2, "has not invoked"),
            (&[ev(1, Invoke, Put, "a", 1), ev(1, Invoke, Get, "a", 2)], 1, "still pending"),
            (&[ev(1, Invoke, Put, "a", 1), ev(1, Ok, Get, "a", 2)], 1, "invoked a put"),
            (&[ev(1, Invoke, Put, "a", 5), ev(1, Ok, Put, "a", 4)], 1, "before its invocation"),
            (&[ev(1, Invoke, Put, "a", 1), ev(1, Info, Put, "a", 2), ev(1, Invoke, Get, "a", 3)], 2, "after its info"),
        ];
        for (events, index, message) in cases {
            let err = validate(events).unwrap_err();
            assert_eq!(err.index(), index, "{err}");
            assert!(err.to_string().contains(message), "{err}");
        }
        let other_key = [ev(1, Invoke, Put, "a", 1), ev(1, Ok, Put, "b", 2)];
        assert!(matches!(validate(&other_key), Err(InvalidHistory::Mismatched { .. })));
    }
}
