//! The scheduler against an in-process target, on tokio's paused clock:
//! time advances only when every task waits, so these tests measure the
//! schedule, not the machine.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use history::EventType;
use loadgen::driver::FakeDriver;
use loadgen::run::run;
use loadgen::workload::Workload;

fn workload(yaml: &str) -> Workload {
    Workload::parse(Path::new("test.yaml"), yaml).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_open_loop_keeps_its_rate_within_two_percent() {
    let w = workload(
        "keys: {count: 100}\nmix: {read: 1, update: 1}\nload: {mode: open, rate: 5000, clients: 64, duration: 6s, warmup: 1s}\n",
    );
    let (recorder, rate) = run(&w, FakeDriver::new(Duration::from_millis(2)), 1, "").await;
    let error = rate.rate_error.unwrap();
    assert!(error < 0.02, "achieved {} against 5000: error {error}", rate.achieved_rate);
    assert!(recorder.measured_ops > 20_000);
}

#[tokio::test(start_paused = true)]
async fn a_stall_shows_in_corrected_latency_only() {
    let w = workload(
        "keys: {count: 100}\nmix: {update: 1}\nload: {mode: open, rate: 1000, clients: 1, duration: 30s, warmup: 1s}\n",
    );
    let target = FakeDriver::new(Duration::from_micros(200)).with_stall(Duration::from_secs(5), Duration::from_secs(1));
    let (recorder, _) = run(&w, target, 1, "").await;
    let corrected = recorder.corrected["update"].value_at_quantile(0.999);
    let uncorrected = recorder.uncorrected["update"].value_at_quantile(0.999);
    assert!(corrected > 500_000, "corrected p99.9 {corrected} µs should show the 1 s stall");
    assert!(uncorrected < 10_000, "uncorrected p99.9 {uncorrected} µs should not");
}

#[tokio::test(start_paused = true)]
async fn the_history_pairs_every_invoke_with_at_most_one_completion() {
    let w = workload(
        "keys: {count: 10}\nmix: {read: 3, update: 3, cas: 2, append: 1, list_read: 1, read_modify_write: 1}\n\
         load: {mode: closed, clients: 4, duration: 2s}\n",
    );
    let (recorder, _) = run(&w, FakeDriver::new(Duration::from_millis(1)), 3, "").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for e in &recorder.history {
        history::write_event(&mut file, e).unwrap();
    }
    let events = history::read(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    assert_eq!(events.len(), recorder.history.len());
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut completions = 0;
    for e in &events {
        match e.kind {
            EventType::Invoke => assert!(open.insert(e.process, 1).is_none(), "process {} invoked twice", e.process),
            _ => {
                assert!(open.remove(&e.process).is_some(), "completion without invoke: {e:?}");
                completions += 1;
            }
        }
    }
    assert!(completions > 1000);
    let cas_outcomes: std::collections::HashSet<EventType> = events
        .iter()
        .filter(|e| e.f == history::Function::Cas && e.kind != EventType::Invoke)
        .map(|e| e.kind)
        .collect();
    assert!(cas_outcomes.contains(&EventType::Ok), "a cas after a fresh read succeeds against the fake");
}
