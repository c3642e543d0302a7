//! etcd as the system under test (Debian's etcd-server, found on the PATH;
//! .ci/setup installs it): the smoke scenario is valid on both backends (the
//! docker one needs Docker Engine), a leader cut off
//! while clients read serializably gives a stale-read counterexample while
//! linearizable reads stay valid, a cut-off leader acknowledges no write
//! sent after the cut, and faults etcd has no mechanism for are refused
//! before anything starts.

use std::path::{Path, PathBuf};

use chaos::check::Verdict;
use chaos::runner::RunOptions;
use chaos::scenario::{BackendKind, Scenario, SystemKind};
use history::Function;

mod common;

/// Members take 127.0.0.231 and up; each test its own client port (peers
/// on the next one).
const IP_BASE: u8 = 230;

/// One test's clusters at a time: on two cores, four etcd clusters at once
/// elect slowly enough to miss the smoke scenario's election threshold.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn etcd() -> PathBuf {
    chaos::build::on_path("etcd").expect(
        "the etcd tests need etcd on the PATH: run .ci/setup as root (or apt-get install -y etcd-server etcd-client)",
    )
}

fn options(out: &Path, port: u16) -> RunOptions {
    RunOptions {
        raft_node: PathBuf::new(),
        etcd: Some(etcd()),
        out: out.to_path_buf(),
        ip_base: IP_BASE,
        port,
        keep_data: false,
    }
}

fn etcd_scenario(path: &str) -> Scenario {
    let mut scenario = Scenario::load(&common::workloads().join(path)).unwrap();
    scenario.file.cluster.system = SystemKind::Etcd;
    scenario
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smoke_scenario_is_valid_on_etcd_with_linearizable_reads() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_with(&etcd_scenario("smoke.yaml"), &options(dir.path(), 17921)).await;
    assert_eq!(report.system, "etcd");
    assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report.checks);
    assert!(common::unconfirmed_faults(&report).is_empty(), "{:#?}", report.faults);
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    let history = history::read(history.as_bytes()).unwrap();
    let reads: Vec<_> = history.iter().filter(|e| e.f == Function::Get).collect();
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|e| e.consistency() == Some("linearizable")), "every smoke read is etcd's linearizable");
}

/// A cut-off leader acknowledges nothing: no write sent after the cut is
/// acknowledged before another member can be elected, an election timeout
/// (200 ms) later at the soonest. While the cut rules told what a member
/// sends on its peers' connections by their destination (127.0.0.1 for
/// etcd, which dials from there), writes went on being acknowledged 1-3 ms
/// after each cut, for a few hundred ms.
#[tokio::test(flavor = "multi_thread")]
async fn no_write_sent_after_the_cut_is_acknowledged_by_a_cut_off_etcd_leader() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::load(&common::workloads().join("etcd/cut-leader.yaml")).unwrap();
    let report = common::run_with(&scenario, &options(dir.path(), 17949)).await;
    assert!(common::unconfirmed_faults(&report).is_empty(), "{:#?}", report.faults);
    assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report.checks);
    assert_eq!(report.recoveries.len(), 2, "{:#?}", report.recoveries);
    for r in &report.recoveries {
        let rto_ms = r.to_first_write_ns.expect("writes resumed after the cut") / 1_000_000;
        assert!(rto_ms >= 150, "{}: a write sent after the cut was acknowledged {rto_ms} ms after it", r.fault);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smoke_scenario_is_valid_on_etcd_in_containers() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = etcd_scenario("smoke.yaml");
    scenario.file.backend = BackendKind::Docker;
    // Each container has an address of its own: the port is free there.
    let report = common::run_with(&scenario, &options(dir.path(), 17955)).await;
    assert_eq!(report.backend, "docker");
    assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report.checks);
    assert!(common::unconfirmed_faults(&report).is_empty(), "{:#?}", report.faults);
}

#[tokio::test(flavor = "multi_thread")]
async fn serializable_reads_from_a_cut_off_leader_are_stale_and_linearizable_ones_are_not() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let serializable = Scenario::load(&common::workloads().join("etcd/stale-reads.yaml")).unwrap();
    let linearizable = Scenario::load(&common::workloads().join("etcd/stale-reads-linearizable.yaml")).unwrap();
    let (stale_options, fresh_options) =
        (options(&dir.path().join("serializable"), 17931), options(&dir.path().join("linearizable"), 17941));
    let (stale, fresh) =
        tokio::join!(common::run_with(&serializable, &stale_options), common::run_with(&linearizable, &fresh_options),);
    assert!(common::unconfirmed_faults(&stale).is_empty(), "{:#?}", stale.faults);
    assert_eq!(stale.verdict, Verdict::Invalid, "{:#?}", stale.checks);
    let register = stale.checks.iter().find(|c| c.checker == "linearizable-register").unwrap();
    assert_eq!(register.verdict, Verdict::Invalid);
    assert!(register.reason.contains("its reads were served serializable"), "{}", register.reason);
    let reads: Vec<_> = register.counterexample.iter().filter(|e| e.f == Function::Get).collect();
    assert!(!reads.is_empty() && reads.iter().all(|e| e.consistency() == Some("serializable")), "{reads:#?}");
    let others: Vec<_> = stale.checks.iter().filter(|c| c.checker != "linearizable-register").collect();
    assert!(others.iter().all(|c| c.verdict == Verdict::Valid), "only the reads were wrong: {others:#?}");

    assert!(common::unconfirmed_faults(&fresh).is_empty(), "{:#?}", fresh.faults);
    assert_eq!(fresh.verdict, Verdict::Valid, "{:#?}", fresh.checks);
}

#[tokio::test]
async fn faults_and_bugs_etcd_has_no_mechanism_for_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (fault, missing) in [
        ("skew_leader_clock", "a Raft-clock skew hook, which the etcd system lacks"),
        ("slow_follower_disks", "a slow-disk hook, which the etcd system lacks"),
        ("power_loss", "a durable-write marker for power loss, which the etcd system lacks"),
    ] {
        let mut scenario = etcd_scenario("smoke.yaml");
        scenario.file.faults[0].kind = serde_yaml_ng::from_str(fault).unwrap();
        let refused = chaos::runner::run(&scenario, &options(dir.path(), 17951)).await.err().unwrap();
        let message = refused.to_string();
        assert!(matches!(refused, chaos::runner::RunError::Refused(_)), "{message}");
        assert!(message.ends_with(&format!("faults[0]: {fault} needs {missing}")), "{message}");
    }
    let mut scenario = etcd_scenario("smoke.yaml");
    scenario.file.cluster.unsafe_bugs = vec!["stale-lease-read".into()];
    let refused = chaos::runner::run(&scenario, &options(dir.path(), 17951)).await.err().unwrap().to_string();
    assert!(refused.contains("etcd has no planted bugs"), "{refused}");
    assert!(!dir.path().join("nodes").exists(), "nothing was started");
}

#[test]
fn without_etcd_on_the_path_a_run_exits_2_saying_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("run")
        .arg(common::workloads().join("smoke.yaml"))
        .args(["--system", "etcd", "--port", "17957", "--out"])
        .arg(dir.path().join("run"))
        .env("PATH", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the etcd system needs the etcd program") && last.contains("etcd-server"),
        "{stderr}"
    );
    assert!(!dir.path().join("run").exists(), "nothing was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wiped_etcd_member_refuses_to_start_and_its_machine_rejoins_under_a_new_id() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_with(&etcd_scenario("faults/wipe-node.yaml"), &options(dir.path(), 17947)).await;
    assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report.checks);
    let wipe = &report.faults[0];
    assert!(
        wipe.confirmed.contains("refused to start") && wipe.confirmed.contains("already been bootstrapped"),
        "{wipe:#?}"
    );
}
