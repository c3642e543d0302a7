//! Lanes on real threads: every lane's clients run on that lane's thread
//! and send through that lane's driver only (whose connections live there).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use history::EventType;
use loadgen::driver::{Driver, FakeDriver, Outcome};
use loadgen::lanes;
use loadgen::run::run_lanes;
use loadgen::workload::{Consistency, Workload};
use node::runtimes::RuntimeThreads;

/// Which driver served a call, and on which thread.
type Seen = Arc<Mutex<BTreeMap<usize, BTreeSet<String>>>>;

/// A fake target that notes, for each call, the thread it was made on.
struct ThreadNoting {
    lane: usize,
    seen: Seen,
    inner: FakeDriver,
}

impl ThreadNoting {
    fn note(&self) {
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        self.seen.lock().unwrap().entry(self.lane).or_default().insert(thread);
    }
}

impl Driver for ThreadNoting {
    async fn get(&self, key: &str, consistency: Consistency) -> Outcome {
        self.note();
        self.inner.get(key, consistency).await
    }
    async fn put(&self, key: &str, value: Bytes) -> Outcome {
        self.note();
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Outcome {
        self.note();
        self.inner.delete(key).await
    }
    async fn cas(&self, key: &str, expected: Option<Bytes>, new: Bytes) -> Outcome {
        self.note();
        self.inner.cas(key, expected, new).await
    }
    async fn append(&self, key: &str, value: Bytes) -> Outcome {
        self.note();
        self.inner.append(key, value).await
    }
    async fn read_list(&self, key: &str, consistency: Consistency) -> Outcome {
        self.note();
        self.inner.read_list(key, consistency).await
    }
    async fn read_registers(&self, keys: &[String]) -> Outcome {
        self.note();
        self.inner.read_registers(keys).await
    }
    async fn write_if(&self, compares: &[(String, Option<Bytes>)], puts: &[(String, Bytes)]) -> Outcome {
        self.note();
        self.inner.write_if(compares, puts).await
    }
    fn read_kind(&self, consistency: Consistency) -> &'static str {
        self.inner.read_kind(consistency)
    }
}

async fn lanes_of(threads: &RuntimeThreads, seen: &Seen) -> Vec<loadgen::run::Lane<ThreadNoting>> {
    let next = Arc::new(Mutex::new(0));
    let make = || {
        let (seen, next) = (seen.clone(), next.clone());
        async move {
            let lane = {
                let mut next = next.lock().unwrap();
                *next += 1;
                *next - 1
            };
            Ok::<_, std::convert::Infallible>(ThreadNoting {
                lane,
                seen,
                inner: FakeDriver::with_latency(Duration::from_micros(100)),
            })
        }
    };
    let Ok(lanes) = lanes::build(threads, make).await;
    lanes
}

fn workload(yaml: &str) -> Workload {
    Workload::parse(Path::new("test.yaml"), yaml).unwrap()
}

fn expected_threads() -> BTreeMap<usize, BTreeSet<String>> {
    (0..2).map(|lane| (lane, BTreeSet::from([format!("lane-{lane}")]))).collect()
}

#[tokio::test]
async fn closed_loop_clients_stay_on_their_lane_and_use_its_driver_only() {
    let threads = RuntimeThreads::start(2, "lane").unwrap();
    let seen = Seen::default();
    let lanes = lanes_of(&threads, &seen).await;
    let w = workload(
        "keys: {count: 50, preload: true}\nmix: {read: 1, update: 1}\nload: {mode: closed, clients: 5, duration: 300ms}\n",
    );
    let (recorder, _) = run_lanes(&w, &lanes, 1, "").await;
    assert_eq!(*seen.lock().unwrap(), expected_threads());
    let invokes = recorder.history.iter().filter(|e| e.kind == EventType::Invoke).count();
    let completions = recorder.history.iter().filter(|e| e.kind != EventType::Invoke).count();
    assert_eq!(invokes, completions, "every operation completed, on either lane");
    assert!(invokes > 50, "the preload's 50 writes and then the closed loop's: {invokes}");
}

#[tokio::test]
async fn open_loop_operations_are_dealt_over_the_lanes() {
    let threads = RuntimeThreads::start(2, "lane").unwrap();
    let seen = Seen::default();
    let lanes = lanes_of(&threads, &seen).await;
    let w =
        workload("keys: {count: 50}\nmix: {update: 1}\nload: {mode: open, rate: 200, clients: 4, duration: 200ms}\n");
    let (recorder, _) = run_lanes(&w, &lanes, 1, "").await;
    assert_eq!(*seen.lock().unwrap(), expected_threads());
    assert_eq!(recorder.counts["ok"], recorder.measured_ops);
}
