//! Each scenario under `workloads/faults/` end to end on the process
//! backend (wipe-node in containers too): its fault takes effect
//! (confirmed) and the run stays valid.

use chaos::runner::RunReport;
use chaos::scenario::Scenario;
use tempfile::TempDir;

mod common;

/// Runs `workloads/faults/NAME.yaml`, asserts every check valid and every
/// fault confirmed, and hands back the report and the run directory.
async fn runs_valid_with_its_faults_confirmed(name: &str, ip_base: u8, port: u16) -> (RunReport, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&fault_scenario(name), ip_base, port, &dir.path().join("out")).await;
    assert_valid_and_confirmed(name, &report);
    (report, dir)
}

fn fault_scenario(name: &str) -> Scenario {
    Scenario::load(&common::workloads().join(format!("faults/{name}.yaml"))).unwrap()
}

fn assert_valid_and_confirmed(name: &str, report: &RunReport) {
    common::assert_every_check_valid(report);
    let unconfirmed = common::unconfirmed_faults(report);
    assert!(unconfirmed.is_empty(), "{name}: faults not shown to take effect: {unconfirmed:#?}");
}

/// In containers, a wiped member refuses to start within milliseconds,
/// while its cut rules go into its namespace: that was once a harness
/// error instead of the refusal the fault waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_member_in_a_container_refuses_to_start_and_rejoins_under_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_in_containers(fault_scenario("wipe-node"), &dir.path().join("out")).await;
    assert_valid_and_confirmed("wipe-node", &report);
    assert!(report.faults[0].confirmed.contains("refused to start"), "{:?}", report.faults[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_follower_refuses_to_rejoin_and_its_machine_comes_back_under_a_new_id() {
    let (report, dir) = runs_valid_with_its_faults_confirmed("wipe-node", 220, 17981).await;
    let out = dir.path().join("out");
    let [wiped] = report.faults[0].target[..] else { panic!("one node wiped: {:?}", report.faults) };
    assert!(report.faults[0].confirmed.contains("refused to start: node"), "{:?}", report.faults[0]);
    let log = std::fs::read_to_string(out.join(format!("nodes/node-{wiped}.log"))).unwrap();
    assert!(log.contains("Refusing to start"), "node {wiped}'s log: {log}");
    // The heal joined the machine as node 4, which took part to the end.
    let convergence = report.checks.iter().find(|c| c.checker == "convergence").unwrap();
    assert!(convergence.reason.starts_with("3 nodes"), "{}", convergence.reason);
    assert!(out.join("nodes/node-4.log").exists(), "no node joined under a new id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_disk_fails_or_fills_stops_taking_part_and_the_rest_carry_on() {
    let (report, dir) = runs_valid_with_its_faults_confirmed("disk-error", 225, 17984).await;
    for fault in &report.faults {
        assert!(fault.confirmed.contains("its disk failed"), "{fault:?}");
        let log = std::fs::read_to_string(dir.path().join(format!("out/nodes/node-{}.log", fault.target[0]))).unwrap();
        let errno = if fault.kind == "disk_full" { "the disk is full" } else { "Input/output error" };
        assert!(log.contains(errno), "{}: node {}'s log says why: {log}", fault.kind, fault.target[0]);
    }
    // Each time a new leader took over.
    assert!(report.recoveries.iter().all(|r| r.to_first_write_ns.is_some()), "{:?}", report.recoveries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_aborts_at_each_crash_site_loses_nothing() {
    let (report, _dir) = runs_valid_with_its_faults_confirmed("crash-at", 200, 17987).await;
    let sites: Vec<&str> = report.faults.iter().filter_map(|f| f.confirmed.rsplit(" at ").next()).collect();
    assert_eq!(sites, ["crash-before-wal-sync", "crash-after-wal-sync", "crash-before-apply"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_aborts_right_after_a_snapshot_install_comes_back_consistent() {
    let (report, dir) = runs_valid_with_its_faults_confirmed("snapshot-transfer", 205, 17990).await;
    let follower = report.faults[0].target[0];
    let log = std::fs::read_to_string(dir.path().join(format!("out/nodes/node-{follower}.log"))).unwrap();
    let install = log.find("installing the leader's snapshot").expect("the follower installed a snapshot");
    let abort = log.find("failpoint: aborting").expect("and aborted");
    assert!(install < abort, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_damaged_wal_or_snapshot_refuses_to_start_naming_the_file() {
    let (report, _dir) = runs_valid_with_its_faults_confirmed("corrupt-files", 240, 17993).await;
    let [wal, snapshot] = &report.faults[..] else { panic!("two faults: {:?}", report.faults) };
    assert!(wal.confirmed.contains(".wal: corrupt at byte"), "{wal:?}");
    assert!(snapshot.confirmed.contains(".snap: corrupt at byte 8: checksum mismatch"), "{snapshot:?}");
}
