//! Checkers: a history in, a verdict out.
//!
//! A [`Checker`] takes a history and returns a [`CheckResult`]: valid,
//! invalid (with a counterexample: the events that prove it) or unknown
//! (with the reason: a budget ran out, the history is not well formed, the
//! checker panicked). Verdicts merge by priority, invalid over unknown over
//! valid, as Jepsen's do. Run checkers through [`check_safe`] or
//! [`check_all`], which turn a panic into `unknown` rather than a crash.
//!
//! ```
//! use chaos::check::{Budget, Model, check_safe};
//! let history = history::read(std::io::BufReader::new(&b""[..])).unwrap();
//! let checker = Model::infer(&history).checker(Budget::default());
//! let result = check_safe(checker.as_ref(), &history);
//! assert_eq!(result.verdict, chaos::check::Verdict::Valid);
//! ```

mod bank;
mod cluster;
mod json;
mod linearizable;
mod list_append;
mod ops;
mod set;

use std::panic::{AssertUnwindSafe, catch_unwind};

use history::{Event, Function};
use serde::Serialize;

pub use bank::{Bank, check_bank};
pub use cluster::{FaultWindow, FinalState, check_convergence, check_split_brain, lost_writes, recovery_times};
pub use history::InvalidHistory;
pub use linearizable::{Budget, Registers, check_registers};
pub use list_append::{ListAppend, check_list_append};
pub use ops::{Operation, operations};
pub use reports::cluster::{NodeEvent, NodeEventKind};
pub use reports::{CheckResult, Finding, Recovery, Verdict};
pub use set::{Set, check_set};

/// Judges a history.
pub trait Checker: Send + Sync {
    /// A short stable name, used in reports ("linearizable-register").
    fn name(&self) -> &str;
    fn check(&self, history: &[Event]) -> CheckResult;
}

/// Runs a checker; a panic becomes `unknown` with the panic's message.
pub fn check_safe(checker: &dyn Checker, history: &[Event]) -> CheckResult {
    catch_unwind(AssertUnwindSafe(|| checker.check(history))).unwrap_or_else(|payload| {
        let reason = format!("the checker panicked: {}", panic_message(payload.as_ref()));
        CheckResult::new(checker.name(), Verdict::Unknown, reason, vec![])
    })
}

/// Runs every checker (each through [`check_safe`]); merge the verdicts
/// with [`CheckResult::merge`].
pub fn check_all(checkers: &[&dyn Checker], history: &[Event]) -> Vec<CheckResult> {
    checkers.iter().map(|c| check_safe(*c, history)).collect()
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".into(),
    }
}

/// The data model a history's operations act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// put / get / delete / cas on registers: linearizability, key by key.
    Register,
    /// append / read on lists.
    ListAppend,
    /// Jepsen's bank: transfer / read of every account.
    Bank,
    /// Jepsen's set: add / read of every element.
    Set,
}

impl Model {
    /// Bank when the history has a transfer or a read of balances by
    /// account (a JSON object), set when it has an add, list-append when it
    /// has an append or a read, register otherwise (including an empty
    /// history).
    pub fn infer(history: &[Event]) -> Model {
        let has = |f: Function| history.iter().any(|e| e.f == f);
        let reads_balances = history.iter().any(|e| e.f == Function::Read && e.value.is_object());
        if has(Function::Transfer) || reads_balances {
            Model::Bank
        } else if has(Function::Add) {
            Model::Set
        } else if has(Function::Append) || has(Function::Read) {
            Model::ListAppend
        } else {
            Model::Register
        }
    }

    /// The model's checker; `budget` bounds the register search. A bank
    /// checked so takes the total most reads saw (see [`Bank`]).
    pub fn checker(self, budget: Budget) -> Box<dyn Checker> {
        match self {
            Model::Register => Box::new(Registers { budget }),
            Model::ListAppend => Box::new(ListAppend),
            Model::Bank => Box::new(Bank::default()),
            Model::Set => Box::new(Set),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Model::Register => "register",
            Model::ListAppend => "list-append",
            Model::Bank => "bank",
            Model::Set => "set",
        }
    }
}

/// A history's operations whose function `keep` accepts, grouped by key
/// (keys sorted); or, for a history that is not well formed, the `unknown`
/// result of `checker` saying why.
fn operations_by_key(
    checker: &str,
    events: &[Event],
    keep: impl Fn(&Operation) -> bool,
) -> Result<Vec<(String, Vec<Operation>)>, CheckResult> {
    let ops = operations(events).map_err(|e| {
        let reason = format!("the history is not well formed: event {}: {e}", e.index() + 1);
        CheckResult::new(checker, Verdict::Unknown, reason, vec![])
    })?;
    let mut by_key: std::collections::BTreeMap<String, Vec<Operation>> = Default::default();
    for op in ops.into_iter().filter(|op| keep(op)) {
        by_key.entry(op.key.clone()).or_default().push(op);
    }
    Ok(by_key.into_iter().collect())
}

/// "1 key", "2 keys".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// The events of these operations (invocations and completions), in
/// history order.
fn events_of<'a>(events: &[Event], ops: impl IntoIterator<Item = &'a Operation>) -> Vec<Event> {
    let mut positions: Vec<usize> = ops.into_iter().flat_map(|op| [Some(op.events.0), op.events.1]).flatten().collect();
    positions.sort_unstable();
    positions.dedup();
    positions.into_iter().map(|p| events[p].clone()).collect()
}
