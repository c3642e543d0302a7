//! The scheduler against an in-process target, on tokio's paused clock:
//! time advances only when every task waits, so these tests measure the
//! schedule, not the machine.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use history::{EventType, Function};
use loadgen::driver::{Driver, FakeDriver, FakeOptions, Outcome};
use loadgen::run::{read_set_at_end, run, run_shared};
use loadgen::workload::{Consistency, Workload};

fn workload(yaml: &str) -> Workload {
    Workload::parse(Path::new("test.yaml"), yaml).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_open_loop_keeps_its_rate_within_two_percent() {
    let w = workload(
        "keys: {count: 100}\nmix: {read: 1, update: 1}\nload: {mode: open, rate: 5000, clients: 64, duration: 6s, warmup: 1s}\n",
    );
    let (recorder, rate) = run(&w, FakeDriver::with_latency(Duration::from_millis(2)), 1, "").await;
    let error = rate.rate_error.unwrap();
    assert!(error < 0.02, "achieved {} against 5000: error {error}", rate.achieved_rate);
    // 5 measured seconds at 5000/s, every operation answered.
    assert_eq!(recorder.measured_ops, 25_000);
    assert_eq!(recorder.counts["ok"], 25_000);
}

#[tokio::test(start_paused = true)]
async fn a_stall_shows_in_corrected_latency_only() {
    let w = workload(
        "keys: {count: 100}\nmix: {update: 1}\nload: {mode: open, rate: 1000, clients: 1, duration: 30s, warmup: 1s}\n",
    );
    let stall = Some((Duration::from_secs(5), Duration::from_secs(1)));
    let target = FakeDriver::new(FakeOptions { latency: Duration::from_micros(200), stall, noop: false });
    let (recorder, _) = run(&w, target, 1, "").await;
    let corrected = recorder.corrected["update"].value_at_quantile(0.999);
    let uncorrected = recorder.uncorrected["update"].value_at_quantile(0.999);
    assert!(corrected > 500_000, "corrected p99.9 {corrected} µs should show the 1 s stall");
    assert!(uncorrected < 10_000, "uncorrected p99.9 {uncorrected} µs should not");
    // The one operation that met the stall waited for all of it, either way.
    assert!(recorder.uncorrected["update"].max() >= 1_000_000);
}

/// The fake, except that every `every`-th write is applied and then answered
/// "unknown", as when a connection drops after the request was sent.
struct Flaky {
    inner: FakeDriver,
    every: u64,
    writes: AtomicU64,
}

impl Flaky {
    fn answer(&self, outcome: Outcome) -> Outcome {
        if self.writes.fetch_add(1, Ordering::Relaxed) % self.every == self.every - 1 {
            Outcome::Unknown("connection lost".into())
        } else {
            outcome
        }
    }
}

impl Driver for Flaky {
    async fn get(&self, key: &str, consistency: Consistency) -> Outcome {
        self.inner.get(key, consistency).await
    }
    async fn put(&self, key: &str, value: Bytes) -> Outcome {
        self.answer(self.inner.put(key, value).await)
    }
    async fn delete(&self, key: &str) -> Outcome {
        self.answer(self.inner.delete(key).await)
    }
    async fn cas(&self, key: &str, expected: Option<Bytes>, new: Bytes) -> Outcome {
        self.answer(self.inner.cas(key, expected, new).await)
    }
    async fn append(&self, key: &str, value: Bytes) -> Outcome {
        self.answer(self.inner.append(key, value).await)
    }
    async fn read_list(&self, key: &str, consistency: Consistency) -> Outcome {
        self.inner.read_list(key, consistency).await
    }
    async fn read_registers(&self, keys: &[String]) -> Outcome {
        self.inner.read_registers(keys).await
    }
    async fn write_if(&self, compares: &[(String, Option<Bytes>)], puts: &[(String, Bytes)]) -> Outcome {
        self.answer(self.inner.write_if(compares, puts).await)
    }
    fn read_kind(&self, consistency: Consistency) -> &'static str {
        self.inner.read_kind(consistency)
    }
}

/// Reads a history back and checks the process rules: one operation at a
/// time per process, at most one completion per invoke, and no operation
/// from a process after an `info`. Returns the events.
fn read_back_and_check(history: &loadgen::record::EventLog) -> Vec<history::Event> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for e in history.iter() {
        history::write_event(&mut file, e).unwrap();
    }
    let events = history::read(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    assert!(events.iter().eq(history.iter()), "the history read back differs from the one recorded");
    let mut open: HashSet<u64> = HashSet::new();
    let mut retired: HashSet<u64> = HashSet::new();
    for e in &events {
        assert!(!retired.contains(&e.process), "process {} used after an info: {e:?}", e.process);
        match e.kind {
            EventType::Invoke => assert!(open.insert(e.process), "process {} invoked twice", e.process),
            kind => {
                assert!(open.remove(&e.process), "completion without invoke: {e:?}");
                if kind == EventType::Info {
                    retired.insert(e.process);
                }
            }
        }
    }
    events
}

#[tokio::test(start_paused = true)]
async fn the_history_pairs_every_invoke_with_at_most_one_completion() {
    let w = workload(
        "keys: {count: 10}\nmix: {read: 3, update: 3, cas: 2, append: 1, list_read: 1, read_modify_write: 1}\n\
         load: {mode: closed, clients: 4, duration: 2s}\n",
    );
    let target =
        Flaky { inner: FakeDriver::with_latency(Duration::from_millis(1)), every: 50, writes: AtomicU64::new(0) };
    let (recorder, _) = run(&w, target, 3, "").await;
    let events = read_back_and_check(&recorder.history);
    let count = |f: Function, kind: EventType| events.iter().filter(|e| e.f == f && e.kind == kind).count();
    assert!(events.len() > 2000, "{} events", events.len());
    // Unknown outcomes happened, and each retired its process.
    let infos = events.iter().filter(|e| e.kind == EventType::Info).count();
    assert!(infos > 10, "{infos} infos");
    assert_eq!(recorder.counts["unknown"] as usize, infos);
    // A cas after a fresh read wins against a fake nobody else writes in
    // between; a cas racing another client's write loses, as a `fail`.
    assert!(count(Function::Cas, EventType::Ok) > 0);
    assert!(count(Function::Cas, EventType::Fail) > 0);
    // A read-modify-write is a get, then a put of a new value.
    let processes: HashSet<u64> = events.iter().map(|e| e.process).collect();
    assert_eq!(processes.len(), 4 + infos, "four clients, each taking a fresh process after each info");
}

#[tokio::test(start_paused = true)]
async fn an_open_loop_retires_processes_too() {
    let w = workload("keys: {count: 10}\nmix: {update: 1}\nload: {mode: open, rate: 500, clients: 8, duration: 2s}\n");
    let target =
        Flaky { inner: FakeDriver::with_latency(Duration::from_millis(5)), every: 10, writes: AtomicU64::new(0) };
    let (recorder, _) = run(&w, target, 1, "").await;
    let events = read_back_and_check(&recorder.history);
    assert_eq!(events.iter().filter(|e| e.kind == EventType::Info).count(), 100);
}

#[tokio::test(start_paused = true)]
async fn a_preload_writes_every_key_into_the_history_but_not_the_figures() {
    let w = workload(
        "keys: {count: 50, preload: true, distribution: uniform}\nvalues: {size: 20}\nmix: {read: 1}\n\
         load: {mode: open, rate: 100, duration: 2s}\n",
    );
    let (recorder, _) = run(&w, FakeDriver::with_latency(Duration::from_millis(1)), 5, "p-").await;
    let events = read_back_and_check(&recorder.history);
    let puts: HashSet<&str> =
        events.iter().filter(|e| e.f == Function::Put && e.kind == EventType::Ok).map(|e| e.key.as_str()).collect();
    assert_eq!(puts.len(), 50);
    assert!(puts.contains("p-k0") && puts.contains("p-k49"));
    assert_eq!(recorder.corrected.keys().collect::<Vec<_>>(), [&"read"]);
    assert_eq!(recorder.measured_ops, 200);
    // Every read finds a 20-byte value.
    for e in events.iter().filter(|e| e.f == Function::Get && e.kind == EventType::Ok) {
        assert_eq!(e.value.as_str().map(str::len), Some(20), "{e:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn scans_read_key_ranges_from_targets_that_have_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads");
    let mut w = Workload::load(&dir.join("ycsb-e.yaml")).unwrap();
    w.load.duration = Duration::from_secs(2);
    w.load.warmup = Duration::ZERO;
    let (recorder, _) = run(&w, FakeDriver::with_latency(Duration::from_millis(1)), 1, "e-").await;
    let scans = recorder.corrected["scan"].len();
    assert!(scans > 500, "{scans} scans");
    assert_eq!(recorder.counts.get("failed"), None);
    // Scans are not in the history (it has no function for them); inserts are.
    let events = read_back_and_check(&recorder.history);
    assert!(events.iter().all(|e| e.f == Function::Put));
    let inserted: HashMap<&str, usize> = events.iter().map(|e| (e.key.as_str(), 0)).collect();
    assert!(inserted.contains_key("e-k1000"), "inserts go past the preloaded keys");
}

/// The fake, naming each read by the consistency it was asked for.
struct Named(FakeDriver);

impl Driver for Named {
    async fn get(&self, key: &str, consistency: Consistency) -> Outcome {
        self.0.get(key, consistency).await
    }
    async fn put(&self, key: &str, value: Bytes) -> Outcome {
        self.0.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Outcome {
        self.0.delete(key).await
    }
    async fn cas(&self, key: &str, expected: Option<Bytes>, new: Bytes) -> Outcome {
        self.0.cas(key, expected, new).await
    }
    async fn append(&self, key: &str, value: Bytes) -> Outcome {
        self.0.append(key, value).await
    }
    async fn read_list(&self, key: &str, consistency: Consistency) -> Outcome {
        self.0.read_list(key, consistency).await
    }
    async fn read_registers(&self, keys: &[String]) -> Outcome {
        self.0.read_registers(keys).await
    }
    async fn write_if(&self, compares: &[(String, Option<Bytes>)], puts: &[(String, Bytes)]) -> Outcome {
        self.0.write_if(compares, puts).await
    }
    fn read_kind(&self, consistency: Consistency) -> &'static str {
        consistency.name()
    }
}

#[tokio::test(start_paused = true)]
async fn reads_take_the_consistencies_in_turn_and_the_history_says_which_each_got() {
    let w = workload(
        "keys: {count: 10}\nmix: {read: 1, list_read: 1, update: 1}\nread_consistency: [lease, stale]\n\
         load: {mode: closed, clients: 1, duration: 1s}\n",
    );
    let (recorder, _) = run(&w, Named(FakeDriver::with_latency(Duration::from_millis(1))), 1, "").await;
    let reads: Vec<&history::Event> =
        recorder.history.iter().filter(|e| matches!(e.f, Function::Get | Function::Read)).collect();
    assert!(reads.len() > 100, "{} reads", reads.len());
    // One client: each read's invoke and completion, then the next read.
    for (i, pair) in reads.chunks(2).enumerate() {
        let expected = if i % 2 == 0 { "lease" } else { "stale" };
        assert!(pair.iter().all(|e| e.consistency() == Some(expected)), "read {i}: {pair:?}");
    }
    let writes = recorder.history.iter().filter(|e| e.f == Function::Put);
    assert!(writes.clone().count() > 0 && writes.clone().all(|e| e.consistency().is_none()));
}

/// A bank on the fake: the accounts are opened before the run, transfers
/// (some of unknown outcome, applied all the same) keep the total, and the
/// history has Jepsen's shapes, without keys.
#[tokio::test(start_paused = true)]
async fn bank_transfers_keep_every_read_at_the_initial_total() {
    let w = workload(
        "mix: {transfer: 4, bank_read: 1}\nbank: {accounts: 4, initial_balance: 10, max_transfer: 6}\n\
         load: {mode: closed, clients: 4, duration: 2s}\n",
    );
    let target =
        Flaky { inner: FakeDriver::with_latency(Duration::from_millis(1)), every: 25, writes: AtomicU64::new(0) };
    let (recorder, _) = run(&w, target, 2, "b-").await;
    assert_eq!(recorder.setup_failed, None);
    let events = read_back_and_check(&recorder.history);
    assert!(events.iter().all(|e| e.key.is_empty() && matches!(e.f, Function::Transfer | Function::Read)));
    let reads: Vec<&history::Event> =
        events.iter().filter(|e| e.f == Function::Read && e.kind == EventType::Ok).collect();
    assert!(reads.len() > 100, "{} reads", reads.len());
    for read in reads {
        let balances = read.value.as_object().unwrap();
        let mut accounts: Vec<&String> = balances.keys().collect();
        accounts.sort();
        assert_eq!(accounts, ["0", "1", "2", "3"]);
        assert_eq!(balances.values().map(|b| b.as_i64().unwrap()).sum::<i64>(), 40, "{read:?}");
    }
    let transfers = |kind| events.iter().filter(|e| e.f == Function::Transfer && e.kind == kind).count();
    assert!(transfers(EventType::Ok) > 100 && transfers(EventType::Info) > 0, "{:?}", recorder.counts);
    assert!(transfers(EventType::Fail) > 0, "some would overdraw or lose a race: {:?}", recorder.errors);
    let first = events.iter().find(|e| e.f == Function::Transfer).unwrap();
    let mut shape: Vec<&String> = first.value.as_object().unwrap().keys().collect();
    shape.sort();
    assert_eq!(shape, ["amount", "from", "to"]);
}

/// A set with a count of adds stops adding at it; its final read, made
/// after the run, holds every element (the fake applies even the adds it
/// answers "unknown").
#[tokio::test(start_paused = true)]
async fn a_set_adds_its_count_of_unique_elements_and_reads_them_all_at_the_end() {
    let w = workload("mix: {add: 1}\nset: {adds: 300}\nload: {mode: open, rate: 1000, clients: 8, duration: 30s}\n");
    let target = std::sync::Arc::new(Flaky {
        inner: FakeDriver::with_latency(Duration::from_millis(1)),
        every: 20,
        writes: AtomicU64::new(0),
    });
    let (mut recorder, _) = run_shared(&w, target.clone(), 1, "s-").await;
    assert!(recorder.last_done < Duration::from_secs(1), "the run ends once the 300 adds are sent");
    read_set_at_end(&w, target.as_ref(), &mut recorder, "s-").await;
    let events = read_back_and_check(&recorder.history);
    let adds = events.iter().filter(|e| e.f == Function::Add && e.kind == EventType::Invoke).count();
    assert_eq!(adds, 300);
    let last = events.last().unwrap();
    assert_eq!((last.f, last.kind), (Function::Read, EventType::Ok));
    let mut read: Vec<u64> = last.value.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    read.sort_unstable();
    assert_eq!(read, (0..300).collect::<Vec<u64>>());
}
