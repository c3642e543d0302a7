//! Each scenario under `workloads/faults/` end to end on the process
//! backend: its fault takes effect (confirmed) and the run stays valid.

use chaos::check::Verdict;
use chaos::scenario::Scenario;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_follower_refuses_to_rejoin_and_its_machine_comes_back_under_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::load(&common::workloads().join("faults/wipe-node.yaml")).unwrap();
    let out = dir.path().join("out");
    let report = common::run_scenario(&scenario, 220, 17911, &out).await;
    for c in &report.checks {
        assert_eq!(c.verdict, Verdict::Valid, "{}: {}", c.checker, c.reason);
    }
    let unconfirmed = common::unconfirmed_faults(&report);
    assert!(unconfirmed.is_empty(), "faults not shown to take effect: {unconfirmed:#?}");
    let [wiped] = report.faults[0].target[..] else { panic!("one node wiped: {:?}", report.faults) };
    assert!(report.faults[0].confirmed.contains("refused to bootstrap"), "{:?}", report.faults[0]);
    let log = std::fs::read_to_string(out.join(format!("nodes/node-{wiped}.log"))).unwrap();
    assert!(log.contains("Refusing to start"), "node {wiped}'s log: {log}");
    // The heal joined the machine as node 4, which took part to the end.
    let convergence = report.checks.iter().find(|c| c.checker == "convergence").unwrap();
    assert!(convergence.reason.starts_with("3 nodes"), "{}", convergence.reason);
    assert!(out.join("nodes/node-4.log").exists(), "no node joined under a new id");
}
