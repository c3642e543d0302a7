//! `summary.json`: what a chaos run found, as chaos writes it and every
//! renderer reads it back. The JSON Schema in `reports/summary.schema.json`
//! is generated from these types ([`schema`]); a test keeps the two equal.
//!
//! Bump [`SCHEMA_VERSION`] on any change an older reader would misread (a
//! field renamed, removed or given a new meaning); adding a field with a
//! default does not need one.

use std::collections::BTreeMap;

use history::Event;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The version of the summary format these types read and write.
pub const SCHEMA_VERSION: u32 = 1;

/// A node of the cluster, numbered from 1.
pub type NodeId = u64;

/// `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// [`SCHEMA_VERSION`] of the chaos that wrote it.
    pub schema_version: u32,
    pub scenario: String,
    pub seed: u64,
    /// The merge of every check's verdict: invalid > unknown > valid.
    pub verdict: Verdict,
    pub system: String,
    pub backend: String,
    /// How links were cut: packet filtering, or the nodes' own fault hooks.
    pub cut_mechanism: String,
    /// Bugs planted in every node: the run says nothing about a correct node.
    pub unsafe_bugs: Vec<String>,
    /// What runs it again.
    pub reproduce: Reproduce,
    pub checks: Vec<CheckResult>,
    pub thresholds: Vec<ThresholdOutcome>,
    pub faults: Vec<InjectedFault>,
    /// `recoveries[i]` belongs to `faults[i]`.
    pub recoveries: Vec<Recovery>,
    pub rate: Rate,
    /// Operations by outcome: ok, fail, info.
    pub outcomes: BTreeMap<String, u64>,
    /// Corrected latency of acknowledged operations, per operation.
    pub latency_us: BTreeMap<String, Percentiles>,
    /// How often the runner asked every member for its status while the
    /// workload ran (the cluster timeline, `cluster.jsonl`).
    pub status_poll_ms: u64,
}

impl Summary {
    /// The checks that came out invalid or unknown, worst first.
    pub fn failing_checks(&self) -> Vec<&CheckResult> {
        let mut failing: Vec<&CheckResult> = self.checks.iter().filter(|c| c.verdict != Verdict::Valid).collect();
        failing.sort_by_key(|c| std::cmp::Reverse(c.verdict));
        failing
    }

    /// The slowest recovery to a first acknowledged write, with its fault.
    pub fn worst_rto(&self) -> Option<(&InjectedFault, u64)> {
        self.faults
            .iter()
            .zip(&self.recoveries)
            .filter_map(|(f, r)| Some((f, r.to_first_write_ns?)))
            .max_by_key(|&(_, ns)| ns)
    }

    /// Faults that had a target and did not recover to a write at all.
    pub fn unrecovered(&self) -> Vec<&InjectedFault> {
        self.faults
            .iter()
            .zip(&self.recoveries)
            .filter(|(f, r)| !f.target.is_empty() && r.to_first_write_ns.is_none())
            .map(|(f, _)| f)
            .collect()
    }
}

/// What `chaos run` needs to do the same run again: the scenario as given,
/// and what the command line chose over it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Reproduce {
    /// The scenario file, as the run was given it.
    pub scenario_path: String,
    pub seed: u64,
    pub system: String,
    pub backend: String,
    /// Every planted bug (the scenario's and the command line's).
    pub unsafe_bugs: Vec<String>,
}

impl Reproduce {
    /// The shell command: every word quoted where the shell would split or
    /// expand it.
    pub fn command(&self) -> String {
        let mut words = vec![
            "chaos".to_string(),
            "run".into(),
            shell_word(&self.scenario_path),
            "--seed".into(),
            self.seed.to_string(),
            "--system".into(),
            shell_word(&self.system),
            "--backend".into(),
            shell_word(&self.backend),
        ];
        for bug in &self.unsafe_bugs {
            words.push("--unsafe-inject-bug".into());
            words.push(shell_word(bug));
        }
        words.join(" ")
    }
}

fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) { word.into() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

/// How a check came out. The order is the merge priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    /// The more severe of two verdicts: invalid > unknown > valid.
    pub fn merge(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        }
    }
}

/// A checker's answer.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    pub checker: String,
    pub verdict: Verdict,
    /// One sentence a person can act on.
    pub reason: String,
    /// When invalid: the smallest set of events found that proves it (the
    /// first finding's), in history order.
    pub counterexample: Vec<Event>,
    /// When invalid: each violation found (a bounded number), with its events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// One violation and the events that show it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub key: String,
    pub what: String,
    /// The proof, in history order.
    pub events: Vec<Event>,
    /// Events that help a reader but are not part of the proof (for a
    /// register: the writes of the values the proof's reads returned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<Event>,
}

impl CheckResult {
    pub fn new(checker: &str, verdict: Verdict, reason: String, counterexample: Vec<Event>) -> CheckResult {
        CheckResult { checker: checker.into(), verdict, reason, counterexample, findings: vec![] }
    }

    /// An invalid result; the counterexample is the first finding's events.
    pub fn invalid(checker: &str, reason: String, findings: Vec<Finding>) -> CheckResult {
        let counterexample = findings.first().map(|f| f.events.clone()).unwrap_or_default();
        CheckResult { checker: checker.into(), verdict: Verdict::Invalid, reason, counterexample, findings }
    }

    /// The most severe of several results: invalid > unknown > valid.
    pub fn merge(results: &[CheckResult]) -> Verdict {
        results.iter().map(|r| r.verdict).fold(Verdict::Valid, Verdict::merge)
    }
}

/// A threshold of the scenario and how the run measured against it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdOutcome {
    pub expr: String,
    /// The measured value, with its unit (None: the run did not produce it).
    pub actual: Option<String>,
    /// None when there was nothing to compare.
    pub passed: Option<bool>,
}

/// One injected fault.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct InjectedFault {
    pub kind: String,
    pub target: Vec<NodeId>,
    /// Nanoseconds from the start of the workload.
    pub start_ns: u64,
    pub end_ns: u64,
    /// How the injection was shown to have taken effect.
    pub confirmed: String,
}

/// Recovery after one fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Recovery {
    pub fault: String,
    /// From injection to the first write acknowledged after it.
    pub to_first_write_ns: Option<u64>,
    /// From injection to the first leader elected after it.
    pub to_first_leader_ns: Option<u64>,
}

/// What the load schedule achieved.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Rate {
    /// Open loop: the schedule's mean rate after the warm-up.
    pub target_rate: Option<f64>,
    /// Measured operations (any outcome) per second.
    pub achieved_rate: f64,
    /// |achieved - target| / target.
    pub rate_error: Option<f64>,
    pub measured_seconds: f64,
}

/// Percentiles of one latency histogram, in microseconds.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

/// The JSON Schema of [`Summary`], as kept in `reports/summary.schema.json`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Summary)).expect("schemas serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_quotes_what_the_shell_would_split() {
        let reproduce = Reproduce {
            scenario_path: "workloads/my run.yaml".into(),
            seed: 7,
            system: "raft-node".into(),
            backend: "process".into(),
            unsafe_bugs: vec!["stale-lease-read".into(), "it's".into()],
        };
        assert_eq!(
            reproduce.command(),
            "chaos run 'workloads/my run.yaml' --seed 7 --system raft-node --backend process \
             --unsafe-inject-bug stale-lease-read --unsafe-inject-bug 'it'\\''s'"
        );
    }
}
