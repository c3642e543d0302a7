//! A history's operations: each invocation with what became of it.

use history::{Event, EventType, Function, InvalidHistory};

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

/// Pairs events into operations (failed ones included, marked), in
/// invocation order; a history that is not well formed is an error naming
/// the offending event.
pub fn operations(events: &[Event]) -> Result<Vec<Operation>, InvalidHistory> {
    let pairs = history::pair(events)?;
    Ok(pairs
        .into_iter()
        .map(|pair| {
            let invoke = &events[pair.invoke];
            let completion = pair.completion.map(|at| &events[at]);
            let kind = completion.map(|c| c.kind);
            Operation {
                process: invoke.process,
                f: invoke.f,
                key: invoke.key.clone(),
                input: invoke.value.clone(),
                output: completion.filter(|c| c.kind == EventType::Ok).map(|c| c.value.clone()).unwrap_or_default(),
                call: invoke.time_ns,
                ret: completion.filter(|c| c.kind != EventType::Info).map(|c| c.time_ns),
                failed: kind == Some(EventType::Fail),
                events: (pair.invoke, pair.completion),
            }
        })
        .collect())
}
