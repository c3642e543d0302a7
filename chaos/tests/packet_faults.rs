//! `workloads/faults/packet.yaml` end to end on both backends: each packet
//! fault (delay, loss, duplication, reordering, a rate) is measured to take
//! effect, and the run stays valid. Needs root (NFQUEUE) and, for the
//! containers, Docker Engine.

use chaos::runner::RunReport;
use chaos::scenario::Scenario;

mod common;

fn assert_valid_with_every_fault_measured(report: &RunReport) {
    common::assert_every_check_valid(report);
    let unconfirmed = common::unconfirmed_faults(report);
    assert!(unconfirmed.is_empty(), "faults not shown to take effect: {unconfirmed:#?}");
    let kinds: Vec<&str> = report.faults.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["net_delay", "net_loss", "net_duplicate", "net_reorder", "net_bandwidth"]);
    let [delay, loss, duplicate, reorder, bandwidth] = &report.faults[..] else { unreachable!() };
    assert!(delay.confirmed.contains("ms after (median of 5)"), "{delay:?}");
    assert!(loss.confirmed.contains("lost (its SYN dropped)"), "{loss:?}");
    assert!(duplicate.confirmed.contains("sent twice"), "{duplicate:?}");
    assert!(reorder.confirmed.contains("connects at once"), "{reorder:?}");
    assert!(bandwidth.confirmed.contains("limit 64000 B/s"), "{bandwidth:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_faults_on_local_processes_are_measured_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::load(&common::workloads().join("faults/packet.yaml")).unwrap();
    let report = common::run_scenario(&scenario, 190, 18201, &dir.path().join("out")).await;
    assert_valid_with_every_fault_measured(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_faults_in_containers_are_measured_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::load(&common::workloads().join("faults/packet.yaml")).unwrap();
    let report = common::run_in_containers(scenario, &dir.path().join("out")).await;
    assert_valid_with_every_fault_measured(&report);
}
