//! The `loadgen` binary as a script sees it: messages and exit statuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen")).args(args).output().expect("loadgen runs")
}

fn workloads() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_bad_workload_names_file_line_column_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "keys: {count: 10}\nmix: {read: 1}\nload:\n  mode: open\n  rate: fast\n  duration: 1s\n")
        .unwrap();
    let o = loadgen(&["run", file.to_str().unwrap(), "--target", "fake://"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:5:9", file.display())), "{err}");
    assert!(err.contains("expected f64"), "{err}");
}

#[test]
fn an_unreachable_etcd_fails_fast_with_status_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = format!("etcd://127.0.0.1:{port}");
    // Fast means long before the run would have ended: the probe answers,
    // not the run's end.
    let duration = Duration::from_secs(600);
    let workload = workloads().join("ycsb-a.yaml");
    let started = Instant::now();
    let o = loadgen(&["run", workload.to_str().unwrap(), "--target", &target, "--duration", "600s"]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no etcd endpoint answers"), "{}", stderr(&o));
    assert!(took < duration / 10, "took {took:?} to give up on a run of {duration:?}");
}

#[test]
fn scans_against_raft_node_are_refused_before_anything_is_sent() {
    // Nothing listens on port 1: the refusal comes before any connection.
    let o = loadgen(&["run", workloads().join("ycsb-e.yaml").to_str().unwrap(), "--target", "raft://127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no range reads"), "{}", stderr(&o));
}

#[test]
fn a_bad_target_says_what_was_expected() {
    let o = loadgen(&["run", workloads().join("ycsb-a.yaml").to_str().unwrap(), "--target", "127.0.0.1:2379"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected etcd://"), "{}", stderr(&o));
}

#[test]
fn a_run_writes_summary_histograms_timeline_and_history() {
    let out = tempfile::tempdir().unwrap();
    let o = loadgen(&[
        "run",
        workloads().join("ycsb-a.yaml").to_str().unwrap(),
        "--target",
        "fake://?latency=1ms",
        "--duration",
        "2s",
        "--rate",
        "200",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("read corrected") && text.contains("update uncorrected"), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["schema"], "loadgen-summary/1");
    assert_eq!(summary["warmup_seconds"], 1.0);
    assert!(summary["latency_us"]["read"]["corrected"]["p9999"].as_u64().unwrap() > 0);
    for file in ["read.hgrm", "update.hgrm", "read.uncorrected.hgrm", "timeline.csv", "history.jsonl"] {
        assert!(out.path().join(file).exists(), "{file}");
    }
    let history = std::fs::File::open(out.path().join("history.jsonl")).unwrap();
    let events = history::read(std::io::BufReader::new(history)).unwrap();
    // The 1000-key preload, then about 200 operations (2 events each).
    assert!(events.len() > 2000 + 300, "{}", events.len());
}
