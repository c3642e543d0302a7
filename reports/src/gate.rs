//! A gate's directory (`chaos gate SUITE.yaml --out DIR`): a run directory
//! per run, and for all of them `summary.json` ([`GateSummary`], with a JSON
//! Schema in `reports/gate.schema.json`), `junit.xml` (each run's
//! [`crate::junit::testsuite`]; a run without a verdict is one `run`
//! testcase, an error or skipped) and `index.html` (the gate's outcome, a
//! banner for planted bugs, a row per run linking its report.html).

use std::fmt;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Summary;
use crate::html::{escape, page, table};

/// The version of the gate summary format these types read and write.
pub const GATE_SCHEMA_VERSION: u32 = 1;

/// The gate's `summary.json`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateSummary {
    /// [`GATE_SCHEMA_VERSION`] of the chaos that wrote it.
    pub schema_version: u32,
    /// The suite file, as given to `chaos gate`.
    pub suite: String,
    pub name: String,
    /// 0: every run valid; 1: a run invalid; 2: otherwise (a run unknown,
    /// a harness error, or the gate interrupted), as `chaos gate` exits.
    pub exit_code: u8,
    /// A stop signal ended the gate.
    pub interrupted: bool,
    pub runs: Vec<GateRun>,
}

/// One run of a gate.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateRun {
    /// Unique in the gate: `NAME-seedN`.
    pub name: String,
    /// The scenario file, as the suite names it.
    pub scenario: String,
    /// The scenario's own name.
    pub scenario_name: String,
    pub seed: u64,
    pub backend: String,
    /// Planted in every node of this run: it tests the checks, not the system.
    pub unsafe_bugs: Vec<String>,
    pub verdict: RunVerdict,
    /// Why a run has no verdict: its harness error, the signal, or why it
    /// was not run.
    pub reason: Option<String>,
    /// The run's directory, relative to the gate's.
    pub path: String,
    pub seconds: f64,
    /// The run's own summary (its `path`/summary.json), for junit.xml.
    #[serde(skip)]
    pub summary: Option<Summary>,
}

/// How one run of a gate came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunVerdict {
    Valid,
    Invalid,
    /// The run finished but could not tell (a check out of budget...).
    Unknown,
    /// A harness error or a refused scenario: no verdict.
    Error,
    /// Stopped by a signal: no verdict.
    Interrupted,
    /// Not started: an earlier run stopped the gate.
    NotRun,
}

impl RunVerdict {
    pub const ALL: [RunVerdict; 6] = [
        RunVerdict::Valid,
        RunVerdict::Invalid,
        RunVerdict::Unknown,
        RunVerdict::Error,
        RunVerdict::Interrupted,
        RunVerdict::NotRun,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RunVerdict::Valid => "valid",
            RunVerdict::Invalid => "invalid",
            RunVerdict::Unknown => "unknown",
            RunVerdict::Error => "error",
            RunVerdict::Interrupted => "interrupted",
            RunVerdict::NotRun => "not-run",
        }
    }
}

impl fmt::Display for RunVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl GateSummary {
    /// The runs with this verdict, by name.
    pub fn named(&self, verdict: RunVerdict) -> Vec<&str> {
        self.runs.iter().filter(|r| r.verdict == verdict).map(|r| r.name.as_str()).collect()
    }

    /// The runs that are not valid, by verdict: "invalid: a, b; error: c".
    pub fn not_valid(&self) -> String {
        let groups = RunVerdict::ALL.into_iter().filter(|v| *v != RunVerdict::Valid);
        let named = groups.filter(|v| !self.named(*v).is_empty()).map(|v| format!("{v}: {}", self.named(v).join(", ")));
        named.collect::<Vec<_>>().join("; ")
    }
}

impl GateRun {
    /// Its testsuite's name: planted bugs are in it, for every CI page to show.
    fn suite_name(&self) -> String {
        match self.unsafe_bugs.as_slice() {
            [] => self.name.clone(),
            bugs => format!("{} [UNSAFE BUGS PLANTED: {}]", self.name, bugs.join(", ")),
        }
    }
}

/// `summary.json`, `junit.xml` and `index.html` in the gate's directory `out`.
pub fn write(out: &Path, gate: &GateSummary) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("summary.json"), serde_json::to_string_pretty(gate).expect("serializes") + "\n")?;
    std::fs::write(out.join("junit.xml"), junit(gate))?;
    std::fs::write(out.join("index.html"), index_html(gate, out))
}

/// The gate's `junit.xml`.
pub fn junit(gate: &GateSummary) -> String {
    let suites: Vec<String> = gate
        .runs
        .iter()
        .map(|run| match &run.summary {
            Some(summary) => crate::junit::testsuite(summary, &run.suite_name()),
            None => without_verdict(run),
        })
        .collect();
    crate::junit::document(&suites)
}

/// The testsuite of a run that has no summary: one `run` testcase.
fn without_verdict(run: &GateRun) -> String {
    let class = escape(&format!("chaos.{}", run.suite_name()));
    let why = escape(run.reason.as_deref().unwrap_or(run.verdict.name()));
    let (errors, skipped, outcome) = match run.verdict {
        RunVerdict::NotRun => (0, 1, format!("<skipped message=\"{why}\"/>")),
        _ => (1, 0, format!("<error message=\"{why}\">{why}</error>")),
    };
    format!(
        "  <testsuite name=\"{class}\" tests=\"1\" failures=\"0\" errors=\"{errors}\" skipped=\"{skipped}\">\n    \
         <testcase classname=\"{class}\" name=\"run\">{outcome}</testcase>\n  </testsuite>\n"
    )
}

/// The gate's `index.html`; links are relative, so the directory can be
/// moved or uploaded as it is. `out` is where the runs' directories are.
pub fn index_html(gate: &GateSummary, out: &Path) -> String {
    let (word, class) = match gate.exit_code {
        0 => ("passed", "valid"),
        1 => ("failed", "invalid"),
        _ => ("no verdict", "unknown"),
    };
    let mut body = format!(
        "<h1>chaos gate: {}</h1>\n<p class=\"facts\"><span>suite {}</span><span>{} runs</span><span>exit {}</span></p>\n\
         <p class=\"verdict overall {class}\">{word}</p>\n",
        escape(&gate.name),
        escape(&gate.suite),
        gate.runs.len(),
        gate.exit_code,
    );
    if gate.exit_code != 0 {
        body += &format!("<p>{}</p>\n", escape(&gate.not_valid()));
    }
    let planted: Vec<String> = gate
        .runs
        .iter()
        .filter(|r| !r.unsafe_bugs.is_empty())
        .map(|r| format!("{} ({})", r.name, r.unsafe_bugs.join(", ")))
        .collect();
    if !planted.is_empty() {
        body += &format!(
            "<p class=\"banner\">UNSAFE BUGS PLANTED in {}: these runs test the checks, not the system</p>\n",
            escape(&planted.join("; "))
        );
    }
    let rows: String = gate.runs.iter().enumerate().map(|(i, run)| row(i + 1, run, out)).collect();
    let headings = ["#", "run", "scenario", "seed", "backend", "verdict", "time", "report"];
    body += &table(&headings, rows);
    page(&format!("chaos gate: {}", gate.name), &body)
}

fn row(number: usize, run: &GateRun, out: &Path) -> String {
    let class = match run.verdict {
        RunVerdict::Valid => "valid",
        RunVerdict::Invalid => "invalid",
        _ => "unknown",
    };
    let report = format!("{}/report.html", run.path);
    let link = if out.join(&report).exists() {
        format!("<a href=\"{}\">report</a>", escape(&report))
    } else {
        "-".to_string()
    };
    let bugs = if run.unsafe_bugs.is_empty() {
        String::new()
    } else {
        format!("<br><span class=\"verdict invalid\">bugs planted: {}</span>", escape(&run.unsafe_bugs.join(", ")))
    };
    let reason = run.reason.as_deref().map(|r| format!("<br>{}", escape(r))).unwrap_or_default();
    format!(
        "<tr><td>{number}</td><td>{}{bugs}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td><span class=\"verdict {class}\">{}</span>{reason}</td><td>{:.1} s</td><td>{link}</td></tr>\n",
        escape(&run.name),
        escape(&run.scenario),
        run.seed,
        escape(&run.backend),
        run.verdict,
        run.seconds,
    )
}

/// The JSON Schema of [`GateSummary`], as kept in `reports/gate.schema.json`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(GateSummary)).expect("schemas serialize")
}
