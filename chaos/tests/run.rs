//! A short scenario end to end: real nodes, real faults, every check.

use chaos::scenario::Scenario;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_scenario_with_a_kill_and_a_one_way_cut_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let faults = "[{at: 2s, for: 2s, kind: kill_leader}, {at: 6s, for: 2s, kind: leader_outbound}]";
    let scenario_path = common::mixed_scenario(dir.path(), "short", "10s", faults);
    let scenario = Scenario::load(&scenario_path).unwrap();
    let out = dir.path().join("out");
    let report = common::run_scenario(&scenario, 70, 17601, &out).await;
    common::assert_every_check_valid(&report);
    // Every check, since the scenario names none; list-append because the
    // mixed workload appends; no thresholds, since it sets none.
    let ran: Vec<&str> = report.checks.iter().map(|c| c.checker.as_str()).collect();
    assert_eq!(ran, ["linearizable-register", "list-append", "split-brain", "convergence", "lost-writes"]);
    assert_eq!(report.faults.len(), 2);
    let unconfirmed = common::unconfirmed_faults(&report);
    assert!(unconfirmed.is_empty(), "faults not shown to take effect: {unconfirmed:#?}");
    assert!(report.recoveries.iter().all(|r| r.to_first_write_ns.is_some()), "{:?}", report.recoveries);
    let files =
        ["summary.json", "junit.xml", "report.html", "timeline.csv", "history.jsonl", "events.jsonl", "cluster.jsonl"];
    for file in files.iter().chain(&["nodes/node-1.log", "read.hgrm", "update.hgrm", "read.uncorrected.hgrm"]) {
        assert!(out.join(file).exists(), "{file} missing");
    }
    assert!(!out.join("nodes/node-1").exists(), "data directories are removed without --keep");
    common::assert_summary_matches_schema(&out);
    let junit = common::parse_junit(&out);
    let suite = &junit.suites[0];
    assert_eq!((suite.tests, suite.failures, suite.errors), (5, 0, 0), "a case per check");
    assert!(suite.cases.iter().all(|c| c.status.is_success()));
    let cluster: Vec<reports::cluster::ClusterEvent> = reports::read_lines(&out, "cluster.jsonl").unwrap();
    let killed = cluster.iter().filter(|e| matches!(e.change, reports::cluster::ClusterChange::Killed { .. }));
    assert_eq!(killed.count(), 1, "the kill is on the cluster timeline");
    assert!(cluster.iter().any(|e| matches!(e.change, reports::cluster::ClusterChange::Cut { .. })), "so is the cut");
}

/// Loads `yaml` as the scenario file `scenario.yaml`; errors as text.
fn load(yaml: &str) -> Result<Scenario, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    Scenario::load(&path).map_err(|e| e.to_string())
}

#[test]
fn a_bad_scenario_names_file_line_and_field() {
    let e = load("name: x\ncluster: {size: 3}\nworkload: none.yaml\nfaults:\n  - {at: 1s, for: 1s, kind: meteor}\n")
        .unwrap_err();
    assert!(e.contains("scenario.yaml:5:") && e.contains("meteor"), "{e}");
}

#[test]
fn a_bad_threshold_or_skew_names_its_line_and_what_was_expected() {
    let e = load("cluster: {size: 3}\nworkload: w.yaml\nthresholds:\n  - \"rto < 2s\"\n").unwrap_err();
    assert!(e.contains("scenario.yaml:4:") && e.contains("unknown metric") && e.contains("rto_p50"), "{e}");
    let e = load(
        "cluster: {size: 3}\nworkload: w.yaml\nfaults:\n  - {at: 1s, for: 1s, kind: skew_leader_clock, skew: 20}\n",
    )
    .unwrap_err();
    assert!(e.contains("scenario.yaml:4:") && e.contains("percentage"), "{e}");
}

#[test]
fn a_workload_can_be_written_inline_and_its_mistakes_keep_their_line() {
    let scenario = |mix: &str| {
        format!(
            "cluster: {{size: 3}}\nworkload:\n  keys: {{count: 10, distribution: uniform}}\n  mix: {mix}\n\
             \x20 load: {{mode: open, rate: 100, duration: 5s}}\n"
        )
    };
    let s = load(&scenario("{read: 50, update: 50}")).unwrap();
    assert_eq!(s.workload.keys.count, 10);
    let e = load(&scenario("{read: 50, upd: 50}")).unwrap_err();
    assert!(e.contains("scenario.yaml:4:") && e.contains("upd"), "{e}");
}
