//! The chaos suite catches a bug planted in the node, end to end: the same
//! scenario is valid against the correct node and invalid, naming the
//! violation, against the one with the bug. Every fault must have been
//! confirmed, or a verdict either way would mean nothing.

use chaos::check::Verdict;
use chaos::runner::RunReport;
use chaos::scenario::Scenario;

mod common;

fn lease_scenario() -> Scenario {
    Scenario::load(&common::workloads().join("bugs/lease-slow-clock.yaml")).unwrap()
}

fn power_loss_scenario() -> Scenario {
    Scenario::load(&common::workloads().join("bugs/power-loss.yaml")).unwrap()
}

fn assert_every_fault_confirmed(report: &RunReport, scenario: &Scenario) {
    assert_eq!(report.faults.len(), scenario.file.faults.len(), "{:#?}", report.faults);
    let unconfirmed = common::unconfirmed_faults(report);
    assert!(unconfirmed.is_empty(), "faults not shown to take effect: {unconfirmed:#?}");
}

/// The run is invalid by a check of the data: reads that miss acknowledged
/// writes, replicas that applied different entries, or writes gone
/// (which, depends on what the cuts took).
fn assert_lost_acknowledged_writes(report: &RunReport) {
    assert_eq!(report.verdict, Verdict::Invalid, "{:#?}", report.checks);
    let caught = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .any(|c| ["linearizable-register", "convergence", "lost-writes"].contains(&c.checker.as_str()));
    assert!(caught, "{:#?}", report.checks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_ignores_clock_drift_is_caught_as_overlapping_leases() {
    let mut scenario = lease_scenario();
    scenario.file.cluster.unsafe_bugs.push("stale-lease-read".into());
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 100, 17701, dir.path()).await;
    assert_every_fault_confirmed(&report, &scenario);
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
    assert_every_fault_confirmed(&report, &scenario);
    common::assert_every_check_valid(&report);
    let split_brain = report.checks.iter().find(|c| c.checker == "split-brain").unwrap();
    assert!(!split_brain.reason.contains(" 0 lease-read reports"), "lease reads were served: {}", split_brain.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_that_acknowledge_before_syncing_lose_acknowledged_writes_in_a_power_cut() {
    let mut scenario = power_loss_scenario();
    scenario.file.cluster.unsafe_bugs.push("ack-before-persist".into());
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 120, 17721, dir.path()).await;
    assert_every_fault_confirmed(&report, &scenario);
    assert_lost_acknowledged_writes(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_node_loses_no_acknowledged_write_in_the_same_power_cuts() {
    let scenario = power_loss_scenario();
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 130, 17731, dir.path()).await;
    assert_every_fault_confirmed(&report, &scenario);
    common::assert_every_check_valid(&report);
    let ran: Vec<&str> = report.checks.iter().map(|c| c.checker.as_str()).collect();
    assert!(ran.contains(&"lost-writes") && ran.contains(&"thresholds"), "the read-back ran and was judged: {ran:?}");
    assert!(report.unsafe_bugs.is_empty());
}

fn fsync_error_scenario() -> Scenario {
    Scenario::load(&common::workloads().join("bugs/ignore-fsync-error.yaml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_take_a_failed_fsync_for_durable_lose_acknowledged_writes_in_a_power_cut() {
    let mut scenario = fsync_error_scenario();
    scenario.file.cluster.unsafe_bugs.push("ignore-fsync-error".into());
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 140, 17741, dir.path()).await;
    assert_every_fault_confirmed(&report, &scenario);
    assert!(report.faults[0].confirmed.contains("it carried on (UNSAFE)"), "{:?}", report.faults[0]);
    assert_lost_acknowledged_writes(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_nodes_stop_at_a_failed_fsync_and_lose_nothing_in_the_same_power_cut() {
    let scenario = fsync_error_scenario();
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 150, 17751, dir.path()).await;
    assert_every_fault_confirmed(&report, &scenario);
    assert!(report.faults[0].confirmed.contains("it stopped taking part"), "{:?}", report.faults[0]);
    common::assert_every_check_valid(&report);
}

fn snapshot_install_scenario() -> Scenario {
    Scenario::load(&common::workloads().join("bugs/forget-snapshot-install.yaml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_does_not_record_its_snapshot_install_never_catches_up() {
    let mut scenario = snapshot_install_scenario();
    scenario.file.cluster.unsafe_bugs.push("forget-snapshot-install".into());
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 80, 18251, dir.path()).await;
    assert_every_fault_confirmed(&report, &scenario);
    assert_eq!(report.verdict, Verdict::Invalid, "{:#?}", report.checks);
    let convergence = report.checks.iter().find(|c| c.checker == "convergence").expect("convergence was judged");
    assert_eq!(convergence.verdict, Verdict::Invalid, "{}", convergence.reason);
    // The follower's own log says why it stopped: the WAL refused the
    // first entry after the snapshot.
    let follower = report.faults[0].target[0];
    let log = std::fs::read_to_string(dir.path().join(format!("nodes/node-{follower}.log"))).unwrap();
    assert!(log.contains("after a log of entries"), "node {follower}'s log does not show the refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_records_its_snapshot_install_catches_up_after_the_abort() {
    let scenario = snapshot_install_scenario();
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario, 85, 18261, dir.path()).await;
    assert_every_fault_confirmed(&report, &scenario);
    common::assert_every_check_valid(&report);
}
