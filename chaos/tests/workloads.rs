//! The bank and set workloads end to end: each scenario runs valid on
//! raft-node and on etcd with its faults confirmed, and a bug planted in
//! raft-node that loses acknowledged writes in a power cut is caught by
//! the set check, naming the adds it lost.
//!
//! Members take 127.0.0.61+ (bank), 66+ (set), 71+ (the planted bug, with
//! and without it, on two ports) and 76+ (etcd), on ports 18001 to 18051.

use chaos::check::{CheckResult, Verdict};
use chaos::runner::{RunOptions, RunReport};
use chaos::scenario::{Scenario, SystemKind};
use history::{EventType, Function};

mod common;

/// One cluster at a time: on two cores, clusters elect slowly enough side
/// by side to muddle the recovery figures the scenarios' thresholds judge.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scenario(path: &str) -> Scenario {
    Scenario::load(&common::workloads().join(path)).unwrap()
}

fn check<'a>(report: &'a RunReport, name: &str) -> &'a CheckResult {
    report.checks.iter().find(|c| c.checker == name).unwrap_or_else(|| panic!("no {name} check: {:#?}", report.checks))
}

/// Every check valid, every fault confirmed.
fn assert_valid(report: &RunReport) {
    common::assert_every_check_valid(report);
    assert!(common::unconfirmed_faults(report).is_empty(), "{:#?}", report.faults);
}

/// The run's history, as written to its directory.
fn history(out: &std::path::Path) -> Vec<history::Event> {
    history::read(std::io::BufReader::new(std::fs::File::open(out.join("history.jsonl")).unwrap())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_keeps_its_total_on_raft_node_through_a_kill_and_partitions() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario("bank.yaml"), 60, 18001, dir.path()).await;
    assert_valid(&report);
    let bank = check(&report, "bank");
    assert!(bank.reason.contains("each saw the initial total (800) and no negative balance"), "{}", bank.reason);
    assert!(report.checks.iter().all(|c| c.checker != "linearizable-register"), "no register check on a bank");
    let events = history(dir.path());
    let ok = |f| events.iter().filter(|e| e.f == f && e.kind == EventType::Ok).count();
    assert!(ok(Function::Transfer) > 500 && ok(Function::Read) > 100, "transfers and reads were acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_set_keeps_every_acknowledged_add_on_raft_node_through_a_kill_and_partitions() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let report = common::run_scenario(&scenario("set.yaml"), 65, 18011, dir.path()).await;
    assert_valid(&report);
    let set = check(&report, "set");
    assert!(set.reason.starts_with("the final read of 1 set holds all "), "{}", set.reason);
    let events = history(dir.path());
    let last = events.last().unwrap();
    assert_eq!((last.f, last.kind), (Function::Read, EventType::Ok), "the final read ends the history");
    let faults_over = report.faults.iter().map(|f| f.end_ns).max().unwrap();
    assert!(events[events.len() - 2].time_ns > faults_over, "and began once every fault had healed");
    assert!(last.value.as_array().unwrap().len() > 1000, "the set held what was added");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_acknowledging_before_syncing_lose_acknowledged_adds_and_the_set_check_names_them() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut with_bug, without) = (scenario("bugs/set-power-loss.yaml"), scenario("bugs/set-power-loss.yaml"));
    with_bug.file.cluster.unsafe_bugs.push("ack-before-persist".into());
    let broken = common::run_scenario(&with_bug, 70, 18021, &dir.path().join("bug")).await;
    assert!(common::unconfirmed_faults(&broken).is_empty(), "{:#?}", broken.faults);
    let set = check(&broken, "set");
    assert_eq!(set.verdict, Verdict::Invalid, "{}", set.reason);
    assert!(set.reason.contains("acknowledged add") && set.reason.contains(" lost ("), "{}", set.reason);
    let proof = &set.counterexample;
    assert_eq!(
        proof.iter().map(|e| (e.f, e.kind)).collect::<Vec<_>>()[..2],
        [(Function::Add, EventType::Invoke), (Function::Add, EventType::Ok)]
    );
    assert_eq!(proof.last().map(|e| (e.f, e.kind)), Some((Function::Read, EventType::Ok)), "{proof:#?}");
    assert!(!proof[3].value.as_array().unwrap().contains(&proof[1].value), "the read lacks the acknowledged add");
    // The report shows it as it shows the other checks' counterexamples:
    // the finding, and the add and the read drawn on the time axis.
    let html = std::fs::read_to_string(dir.path().join("bug/report.html")).unwrap();
    assert!(html.contains(&set.findings[0].what), "the finding is in report.html");
    let chart = common::charts(&html).into_iter().find(|svg| svg.contains(&format!("add {}", proof[0].value)));
    assert!(chart.is_some_and(|svg| svg.contains("read \u{2192} [")), "a chart with the add and the final read");

    let correct = common::run_scenario(&without, 70, 18031, &dir.path().join("correct")).await;
    assert_valid(&correct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_and_set_are_valid_on_etcd() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let etcd = chaos::build::on_path("etcd").expect("the etcd test needs etcd on the PATH: run .ci/setup as root");
    let dir = tempfile::tempdir().unwrap();
    for (path, port, checker) in [("bank.yaml", 18041, "bank"), ("set.yaml", 18051, "set")] {
        let mut scenario = scenario(path);
        scenario.file.cluster.system = SystemKind::Etcd;
        let out = dir.path().join(checker);
        let options = RunOptions {
            raft_node: Default::default(),
            etcd: Some(etcd.clone()),
            out,
            ip_base: 75,
            port,
            keep_data: false,
        };
        let report = common::run_with(&scenario, &options).await;
        assert_eq!(report.system, "etcd");
        assert_valid(&report);
        check(&report, checker);
    }
}
