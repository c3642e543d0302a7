//! Pairs a history's invocations with their completions.

use history::{Event, EventType, Function};

/// One operation: its invocation and what became of it.
#[derive(Clone, Debug)]
pub struct Operation {
    pub process: u64,
    pub f: Function,
    pub key: String,
    /// The invocation's value (put: the value; cas: [expected, new]).
    pub input: serde_json::Value,
    /// The completion's value (get: what was read).
    pub output: serde_json::Value,
    pub call: u64,
    /// None: never known to complete (`info`, or no completion at all); it
    /// may take effect at any time after `call`, or never.
    pub ret: Option<u64>,
    /// Certainly took no effect (`fail`).
    pub failed: bool,
    /// Positions in the history of the invocation and the completion.
    pub events: (usize, Option<usize>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpsError {
    #[error("event {index} (line {line}): process {process} completes an operation it never invoked")]
    CompletionWithoutInvoke { index: usize, line: usize, process: u64 },
    #[error("event {index} (line {line}): process {process} invokes again before its last operation completed")]
    Overlapping { index: usize, line: usize, process: u64 },
    #[error("event {index} (line {line}): process {process} completes a {got:?} but invoked a {expected:?}")]
    Mismatched { index: usize, line: usize, process: u64, expected: Function, got: Function },
    #[error("event {index} (line {line}): process {process} acts again after an info completion")]
    AfterInfo { index: usize, line: usize, process: u64 },
}

/// Pairs events into operations (failed ones included, marked).
pub fn operations(events: &[Event]) -> Result<Vec<Operation>, OpsError> {
    let mut open: std::collections::HashMap<u64, usize> = Default::default();
    let mut retired: std::collections::HashSet<u64> = Default::default();
    let mut ops: Vec<Operation> = Vec::new();
    for (index, e) in events.iter().enumerate() {
        let line = index + 1;
        let process = e.process;
        if retired.contains(&process) {
            return Err(OpsError::AfterInfo { index, line, process });
        }
        match e.kind {
            EventType::Invoke => {
                if open.contains_key(&process) {
                    return Err(OpsError::Overlapping { index, line, process });
                }
                open.insert(process, ops.len());
                ops.push(Operation {
                    process,
                    f: e.f,
                    key: e.key.clone(),
                    input: e.value.clone(),
                    output: serde_json::Value::Null,
                    call: e.time_ns,
                    ret: None,
                    failed: false,
                    events: (index, None),
                });
            }
            kind => {
                let at = open.remove(&process).ok_or(OpsError::CompletionWithoutInvoke { index, line, process })?;
                let op = &mut ops[at];
                if op.f != e.f {
                    return Err(OpsError::Mismatched { index, line, process, expected: op.f, got: e.f });
                }
                op.events.1 = Some(index);
                match kind {
                    EventType::Ok => {
                        op.ret = Some(e.time_ns.max(op.call));
                        op.output = e.value.clone();
                    }
                    EventType::Fail => {
                        op.ret = Some(e.time_ns.max(op.call));
                        op.failed = true;
                    }
                    EventType::Info => {
                        retired.insert(process);
                    }
                    EventType::Invoke => unreachable!("handled above"),
                }
            }
        }
    }
    Ok(ops)
}
