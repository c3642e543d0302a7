//! The chaos suite catches a bug planted in the node, end to end: the same
//! scenario is valid against the correct node and invalid, naming the
//! violation, against the one with the bug.

use chaos::check::Verdict;
use chaos::scenario::Scenario;

mod common;

fn lease_scenario() -> Scenario {
    Scenario::load(&common::workloads().join("bugs/lease-slow-clock.yaml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_ignores_clock_drift_is_caught_as_overlapping_leases() {
    let mut scenario = lease_scenario();
    scenario.file.cluster.unsafe_bugs.push("stale-lease-read".into());
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 100, 17701, dir.path()).await;
    let split_brain = report.checks.iter().find(|c| c.checker == "split-brain").unwrap();
    assert_eq!(report.verdict, Verdict::Invalid, "{:#?}", report.checks);
    assert_eq!(split_brain.verdict, Verdict::Invalid, "{}", split_brain.reason);
    assert!(split_brain.reason.contains("overlapping leases"), "{}", split_brain.reason);
    assert_eq!(report.unsafe_bugs, vec!["stale-lease-read".to_string()], "the report names the planted bug");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_lease_holds_under_the_same_slow_clock() {
    let scenario = lease_scenario();
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 110, 17711, dir.path()).await;
    for c in &report.checks {
        assert_eq!(c.verdict, Verdict::Valid, "{}: {}", c.checker, c.reason);
    }
    let split_brain = report.checks.iter().find(|c| c.checker == "split-brain").unwrap();
    assert!(!split_brain.reason.contains(" 0 lease-read reports"), "lease reads were served: {}", split_brain.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_that_acknowledge_before_syncing_lose_acknowledged_writes_in_a_power_cut() {
    let mut scenario = Scenario::load(&common::workloads().join("bugs/power-loss.yaml")).unwrap();
    scenario.file.cluster.unsafe_bugs.push("ack-before-persist".into());
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 120, 17721, dir.path()).await;
    assert_eq!(report.verdict, Verdict::Invalid, "{:#?}", report.checks);
    // Depending on which writes the cut took: reads that miss acknowledged
    // writes, replicas that applied different entries, or writes gone.
    let caught: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .map(|c| c.checker.as_str())
        .filter(|c| ["linearizable-register", "convergence", "lost-writes"].contains(c))
        .collect();
    assert!(!caught.is_empty(), "{:#?}", report.checks);
}
