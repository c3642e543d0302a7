//! `junit.xml`, for CI systems: a `<testsuite>` per run, a `<testcase>`
//! per check and one per threshold. Invalid is a `<failure>`, unknown an
//! `<error>` (the run could not tell), each with the reason.
//!
//! [`testsuite`] is one run's part, so that a suite of runs can put several
//! in one [`document`].

use crate::html::escape;
use crate::summary::{Summary, Verdict};

/// The name of the check that merges the thresholds: in JUnit each
/// threshold is a test case of its own instead.
const THRESHOLDS_CHECK: &str = "thresholds";

/// One case: its name, and how it came out with why.
struct Case {
    name: String,
    verdict: Verdict,
    reason: String,
}

fn cases(summary: &Summary) -> Vec<Case> {
    let checks = summary.checks.iter().filter(|c| c.checker != THRESHOLDS_CHECK).map(|c| Case {
        name: c.checker.clone(),
        verdict: c.verdict,
        reason: c.reason.clone(),
    });
    let thresholds = summary.thresholds.iter().map(|t| {
        let actual = t.actual.as_deref().unwrap_or("not measured");
        let (verdict, reason) = match t.passed {
            Some(true) => (Verdict::Valid, format!("met (was {actual})")),
            Some(false) => (Verdict::Invalid, format!("failed: was {actual}")),
            None => (Verdict::Unknown, "no value was measured".into()),
        };
        Case { name: format!("threshold {}", t.expr), verdict, reason }
    });
    checks.chain(thresholds).collect()
}

/// The `<testsuite>` of one run, named `suite` (e.g. the scenario and its
/// seed), indented for a place inside `<testsuites>`.
pub fn testsuite(summary: &Summary, suite: &str) -> String {
    let cases = cases(summary);
    let count = |v: Verdict| cases.iter().filter(|c| c.verdict == v).count();
    let class = escape(&format!("chaos.{suite}"));
    let mut out = format!(
        "  <testsuite name=\"{class}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
        cases.len(),
        count(Verdict::Invalid),
        count(Verdict::Unknown)
    );
    if !summary.unsafe_bugs.is_empty() {
        let bugs = escape(&summary.unsafe_bugs.join(","));
        out += &format!("    <properties><property name=\"unsafe_bugs\" value=\"{bugs}\"/></properties>\n");
    }
    for case in &cases {
        let name = escape(&case.name);
        let reason = escape(&case.reason);
        out += &match case.verdict {
            Verdict::Valid => format!("    <testcase classname=\"{class}\" name=\"{name}\"/>\n"),
            Verdict::Invalid => format!(
                "    <testcase classname=\"{class}\" name=\"{name}\"><failure message=\"{reason}\">{reason}</failure></testcase>\n"
            ),
            Verdict::Unknown => format!(
                "    <testcase classname=\"{class}\" name=\"{name}\"><error message=\"{reason}\">{reason}</error></testcase>\n"
            ),
        };
    }
    out + "  </testsuite>\n"
}

/// A whole `junit.xml` from [`testsuite`] parts.
pub fn document(suites: &[String]) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n{}</testsuites>\n", suites.concat())
}

/// One run's `junit.xml`: its suite named after the scenario.
pub fn render(summary: &Summary) -> String {
    document(&[testsuite(summary, &summary.scenario)])
}
