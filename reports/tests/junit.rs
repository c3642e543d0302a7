//! `junit.xml` read back by a JUnit parser: a test case per check and per
//! threshold, invalid ones failures and unknown ones errors, with why.

use junit_parser::TestStatus;
use reports::{CheckResult, Verdict};

mod common;

#[test]
fn every_check_and_threshold_is_a_case_and_failures_say_why() {
    let mut summary = common::summary();
    summary.checks.push(CheckResult::new(
        "lost-writes",
        Verdict::Unknown,
        "could not read \"k1\" <back>".into(),
        vec![],
    ));
    summary.checks.push(CheckResult::new("thresholds", Verdict::Invalid, "failed: error_rate".into(), vec![]));
    let xml = reports::junit::render(&summary);
    let parsed = junit_parser::from_reader(std::io::Cursor::new(xml.as_bytes())).unwrap();
    assert_eq!(parsed.suites.len(), 1);
    let suite = &parsed.suites[0];
    assert_eq!(suite.name, "chaos.smoke-kill-leader");
    let cases: Vec<(&str, &str)> = suite
        .cases
        .iter()
        .map(|c| {
            let status = match &c.status {
                TestStatus::Success => "ok",
                TestStatus::Failure(f) => f.message.as_str(),
                TestStatus::Error(e) => e.message.as_str(),
                TestStatus::Skipped(_) => "skipped",
            };
            (c.original_name.as_str(), status)
        })
        .collect();
    assert_eq!(
        cases,
        [
            ("linearizable-register", "key k1 read a stale value"),
            ("split-brain", "ok"),
            ("lost-writes", "could not read \"k1\" <back>"),
            ("threshold rto_p50 < 2s", "ok"),
            ("threshold error_rate < 0.001", "failed: was 0.03"),
        ],
        "the merged thresholds check is not a case: each threshold is"
    );
    assert_eq!((suite.tests, suite.failures, suite.errors), (5, 2, 1));
    assert!(suite.cases[2].status.is_error());
}
