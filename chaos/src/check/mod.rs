//! Checkers: a history in, a verdict out.
//!
//! A verdict is valid, invalid (with a counterexample) or unknown (with the
//! reason: a budget ran out, the history cannot be read...). Verdicts merge
//! by priority, invalid over unknown over valid, as Jepsen's do.

mod cluster;
mod linearizable;
mod list_append;
mod ops;

use serde::Serialize;

pub use cluster::{
    FaultWindow, FinalState, Recovery, RoleEvent, check_convergence, check_split_brain, lost_writes, recovery_times,
};
pub use linearizable::{Budget, check_registers};
pub use list_append::check_list_append;
pub use ops::{Operation, OpsError, operations};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub checker: String,
    pub verdict: Verdict,
    pub reason: String,
    /// When invalid: the events that show it, in history order.
    pub counterexample: Vec<history::Event>,
}

impl CheckResult {
    pub fn new(checker: &str, verdict: Verdict, reason: String, counterexample: Vec<history::Event>) -> CheckResult {
        CheckResult { checker: checker.into(), verdict, reason, counterexample }
    }

    /// The most severe of several results: invalid > unknown > valid.
    pub fn merge(results: &[CheckResult]) -> Verdict {
        results.iter().map(|r| r.verdict).max().unwrap_or(Verdict::Valid)
    }
}

/// A history's operations whose function `keep` accepts, grouped by key
/// (keys sorted); or, for a history that is not well formed, the `unknown`
/// result of `checker` saying why.
fn operations_by_key(
    checker: &str,
    events: &[history::Event],
    keep: impl Fn(&Operation) -> bool,
) -> Result<Vec<(String, Vec<Operation>)>, CheckResult> {
    let ops = operations(events).map_err(|e| {
        CheckResult::new(checker, Verdict::Unknown, format!("the history is not well formed: {e}"), vec![])
    })?;
    let mut by_key: std::collections::BTreeMap<String, Vec<Operation>> = Default::default();
    for op in ops.into_iter().filter(|op| keep(op)) {
        by_key.entry(op.key.clone()).or_default().push(op);
    }
    Ok(by_key.into_iter().collect())
}
