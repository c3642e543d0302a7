//! Running a workload: an optional preload, then an open loop (operations
//! sent on a fixed schedule, as wrk2 does) or a closed loop (N clients,
//! each waiting for its answer), every operation recorded.
//!
//! Open-loop latency is measured from the intended send time (or the
//! actual one, if earlier: see `EARLY`): when the target stalls, the
//! operations that should have been sent meanwhile count their wait, which
//! a closed-loop tool silently omits (coordinated omission). The latency
//! from the actual send time is recorded too.
//!
//! The library entry point, for chaos and for tests:
//! ```no_run
//! # async fn f(w: loadgen::workload::Workload) {
//! let driver = loadgen::driver::FakeDriver::with_latency(std::time::Duration::from_millis(1));
//! let (recorder, rate) = loadgen::run::run(&w, driver, 42, "run1-").await;
//! # }
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use history::{EventType, Function};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::driver::{Driver, Outcome};
use crate::ops::{Generator, Op, OpKind, Transfer, account_key, register_key, registers_end, set_key};
use crate::record::Recorder;
use crate::schedule::{Schedule, mean_rate};
use crate::workload::{Consistency, Mode, Workload};

/// How long operations still in flight when the schedule ends may take to
/// finish; any left after it stay open in the history (outcome unknown).
const DRAIN: Duration = Duration::from_secs(30);

/// How far ahead of its intended time the open loop may send an operation.
/// tokio's timer fires on whole milliseconds, rounding a deadline up: waking
/// for `intended - EARLY` sends each operation at most this early instead of
/// up to a millisecond late. Latency counts from the earlier of the intended
/// and the actual send time, so an early send never shortens a latency, and
/// a late one (the in-flight bound reached, a stalled target, a busy
/// machine) is counted in full.
const EARLY: Duration = Duration::from_millis(1);

/// The open loop's default bound on operations in flight.
pub const DEFAULT_OPEN_CLIENTS: usize = 64;

/// What the schedule achieved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RateReport {
    /// Open loop: the schedule's mean rate after the warm-up.
    pub target_rate: Option<f64>,
    /// Measured operations (any outcome) per second.
    pub achieved_rate: f64,
    /// |achieved - target| / target.
    pub rate_error: Option<f64>,
    /// From the end of the warm-up to the end of the schedule, or to the
    /// last measured completion if later (a sender that fell behind its
    /// schedule finishes late, and its achieved rate shows it).
    pub measured_seconds: f64,
}

/// The message explaining why `driver` cannot run `workload`, if it cannot.
pub fn unsupported(workload: &Workload, driver: &impl Driver) -> Option<String> {
    (workload.mix.scan > 0.0 && !driver.supports_scan()).then(|| {
        "the mix has scans (YCSB E) but this target has no range reads; use etcd:// or fake://, or drop scan".into()
    })
}

/// A runtime a run's clients may run on, and the driver they send through
/// there (see [`crate::lanes`]).
pub struct Lane<D> {
    pub runtime: tokio::runtime::Handle,
    pub driver: Arc<D>,
}

/// Runs the workload against `driver` and returns what was recorded.
/// `key_prefix` goes before every key, so runs against one long-lived
/// cluster do not see each other's keys. Bounded: it returns at most
/// [`DRAIN`] after the workload's duration (plus the preload, if any).
pub async fn run<D: Driver>(workload: &Workload, driver: D, seed: u64, key_prefix: &str) -> (Recorder, RateReport) {
    run_shared(workload, Arc::new(driver), seed, key_prefix).await
}

/// [`run`] with a driver the caller keeps using afterwards (a set's final
/// read: [`read_set_at_end`]).
pub async fn run_shared<D: Driver>(
    workload: &Workload,
    driver: Arc<D>,
    seed: u64,
    key_prefix: &str,
) -> (Recorder, RateReport) {
    run_lanes(workload, &[Lane { runtime: tokio::runtime::Handle::current(), driver }], seed, key_prefix).await
}

/// [`run`] with its clients dealt over `lanes` in turn (closed loop: client
/// i on lane i mod n; open loop and preload: one operation after another).
/// The bank's set-up runs through the first lane's driver.
pub async fn run_lanes<D: Driver>(
    workload: &Workload,
    lanes: &[Lane<D>],
    seed: u64,
    key_prefix: &str,
) -> (Recorder, RateReport) {
    assert!(!lanes.is_empty(), "a run has at least one lane");
    let recorder = Recorder::new(Duration::ZERO, workload.load.warmup.min(workload.load.duration));
    let accounts = workload.bank.as_ref().map_or(0, |b| b.accounts);
    let common = Arc::new(Common {
        reads: workload.reads(),
        read_count: AtomicUsize::new(0),
        scan_end: registers_end(key_prefix),
        accounts: (0..accounts).map(|a| account_key(key_prefix, a)).collect(),
        start: recorder.started,
        recorder: Mutex::new(recorder),
        processes: Mutex::new(Processes { free: Vec::new(), next: 0 }),
    });
    let shared: Vec<Arc<Shared<D>>> = lanes
        .iter()
        .map(|lane| {
            Arc::new(Shared { driver: lane.driver.clone(), runtime: lane.runtime.clone(), common: common.clone() })
        })
        .collect();
    let mut generator = Generator::new(workload, key_prefix);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let default_clients = if workload.load.mode == Mode::Open { DEFAULT_OPEN_CLIENTS } else { 1 };
    let clients = workload.load.clients.unwrap_or(default_clients).max(1);
    if workload.keys.preload {
        preload(&shared, &mut generator, &mut rng, workload.keys.count, clients).await;
    }
    if let Some(bank) = &workload.bank
        && let Err(why) = open_accounts(&shared[0], bank.initial_balance).await
    {
        common.recorder().setup_failed = Some(why);
        drop(shared);
        let nothing = RateReport { target_rate: None, achieved_rate: 0.0, rate_error: None, measured_seconds: 0.0 };
        return (common.into_recorder(), nothing);
    }
    let origin = common.now();
    common.recorder().begin_at(origin);
    let mut tasks = JoinSet::new();
    match workload.load.mode {
        Mode::Open => open_loop(&shared, workload, generator, &mut rng, clients, origin, &mut tasks).await,
        Mode::Closed => {
            let end = origin + workload.load.duration;
            for client in 0..clients {
                let mut local = generator.for_client(client);
                let mut local_rng = ChaCha8Rng::seed_from_u64(rng.random());
                spawn_on_lane(&mut tasks, &shared, client, move |s| async move {
                    let mut process = s.common.take_process();
                    while s.common.now() < end {
                        let Some(op) = local.next(&mut local_rng) else { break };
                        let at = s.common.now();
                        if !s.perform(process, op, at).await {
                            process = s.common.take_process();
                        }
                    }
                });
            }
        }
    }
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    drop(shared);
    let recorder = common.into_recorder();
    let warmup = recorder.warmup();
    let end = origin + workload.load.duration;
    let measured = recorder.last_done.max(end).saturating_sub(origin + warmup).as_secs_f64();
    let achieved = recorder.measured_ops as f64 / measured;
    let target = (workload.load.mode == Mode::Open).then(|| mean_rate(workload));
    let report = RateReport {
        target_rate: target,
        achieved_rate: achieved,
        rate_error: target.map(|t| (achieved - t).abs() / t),
        measured_seconds: measured,
    };
    (recorder, report)
}

/// How long a bank may take to open its accounts before the run gives up.
const OPEN_ACCOUNTS: Duration = Duration::from_secs(30);

/// Creates every account of a bank with `balance`, all at once, before the
/// run (not in the history: the bank checker is told the total). Retried
/// until the accounts are there, since a write of unknown outcome may have
/// created them; an error says why they are not.
async fn open_accounts<D: Driver>(shared: &Shared<D>, balance: u64) -> Result<(), String> {
    let keys = &shared.common.accounts;
    let absent: Vec<(String, Option<Bytes>)> = keys.iter().map(|k| (k.clone(), None)).collect();
    let initial: Vec<(String, Bytes)> = keys.iter().map(|k| (k.clone(), Bytes::from(balance.to_string()))).collect();
    let deadline = Instant::now() + OPEN_ACCOUNTS;
    let mut last = String::new();
    while Instant::now() < deadline {
        let wrote = match shared.driver.write_if(&absent, &initial).await {
            Outcome::Ok(_) => "ok".to_string(),
            Outcome::Failed(why) | Outcome::Unknown(why) => why,
        };
        let read = match shared.driver.read_registers(keys).await {
            Outcome::Ok(Value::Object(found)) if found.values().all(|v| !v.is_null()) => return Ok(()),
            Outcome::Ok(found) => found.to_string(),
            Outcome::Failed(why) | Outcome::Unknown(why) => why,
        };
        last = format!("creating them: {wrote}; reading them back: {read}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("the bank's {} accounts could not be opened within {OPEN_ACCOUNTS:?}: {last}", keys.len()))
}

/// How long a set's final read is retried before the run gives up on it.
const FINAL_READ: Duration = Duration::from_secs(30);

/// A set workload's final read of the whole set, once the run (and any
/// fault) is over, recorded as the history's last operation: what the set
/// checker judges. Retried (each try recorded) until one completes or
/// [`FINAL_READ`] is up; not in the figures. Does nothing for other
/// workloads.
pub async fn read_set_at_end(workload: &Workload, driver: &impl Driver, recorder: &mut Recorder, key_prefix: &str) {
    if workload.mix.add <= 0.0 {
        return;
    }
    let key = set_key(key_prefix);
    let deadline = Instant::now() + FINAL_READ;
    let mut process = recorder.history.iter().map(|e| e.process + 1).max().unwrap_or(0);
    loop {
        let invoked = recorder.started.elapsed();
        recorder.event(process, EventType::Invoke, Function::Read, "", Value::Null, invoked);
        let outcome = driver.read_list(&key, Consistency::ReadIndex).await;
        let done = recorder.started.elapsed();
        match outcome {
            Outcome::Ok(list) => {
                let elements = list.as_array().map_or(Vec::new(), |items| items.iter().map(element).collect());
                recorder.event(process, EventType::Ok, Function::Read, "", Value::Array(elements), done);
                return;
            }
            Outcome::Failed(_) => {
                recorder.event(process, EventType::Fail, Function::Read, "", Value::Null, done);
            }
            Outcome::Unknown(_) => {
                recorder.event(process, EventType::Info, Function::Read, "", Value::Null, done);
                process += 1;
            }
        }
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A set element as stored (decimal text) back as the number it is; any
/// other text stays text, for the checker to see.
fn element(stored: &Value) -> Value {
    stored.as_str().and_then(|s| s.parse::<u64>().ok()).map_or_else(|| stored.clone(), Value::from)
}

/// Writes every initial key once, `clients` at a time; in the history, not
/// in the figures.
async fn preload<D: Driver>(
    shared: &[Arc<Shared<D>>],
    generator: &mut Generator,
    rng: &mut ChaCha8Rng,
    count: u64,
    clients: usize,
) {
    let limit = Arc::new(Semaphore::new(clients));
    let mut tasks = JoinSet::new();
    for index in 0..count {
        let permit = limit.clone().acquire_owned().await.expect("never closed");
        let key = register_key(generator.prefix(), index);
        let op = Op::on_key(OpKind::Update, key, generator.value(rng));
        spawn_on_lane(&mut tasks, shared, index as usize, move |s| async move {
            let process = s.common.take_process();
            if !matches!(s.step(process, &op).await, Outcome::Unknown(_)) {
                s.common.return_process(process);
            }
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

async fn open_loop<D: Driver>(
    shared: &[Arc<Shared<D>>],
    workload: &Workload,
    mut generator: Generator,
    rng: &mut ChaCha8Rng,
    clients: usize,
    origin: Duration,
    tasks: &mut JoinSet<()>,
) {
    // At most `clients` operations in flight, like wrk2's connections: when
    // the target stalls the sender waits too, and the operations it should
    // have sent meanwhile are sent late, their wait counted from their
    // intended time.
    //
    // Operations still unsent when the schedule's time is up are not sent:
    // against a target that stopped answering, the backlog would otherwise
    // keep the run going long after its end (the achieved rate shows it).
    let limit = Arc::new(Semaphore::new(clients));
    let start = shared[0].common.start;
    let end = start + origin + workload.load.duration;
    for (n, offset) in Schedule::new(workload).enumerate() {
        let intended = origin + offset;
        tokio::time::sleep_until(start + intended.saturating_sub(EARLY)).await;
        let Ok(permit) = tokio::time::timeout_at(end, limit.clone().acquire_owned()).await else { break };
        let permit = permit.expect("never closed");
        let Some(op) = generator.next(rng) else { break };
        spawn_on_lane(tasks, shared, n, move |s| async move {
            let process = s.common.take_process();
            if s.perform(process, op, intended).await {
                s.common.return_process(process);
            }
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
}

/// Spawns `task` on the runtime of the `n`th lane, the lanes taken in turn.
fn spawn_on_lane<D: Driver, F>(
    tasks: &mut JoinSet<()>,
    lanes: &[Arc<Shared<D>>],
    n: usize,
    task: impl FnOnce(Arc<Shared<D>>) -> F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let lane = lanes[n % lanes.len()].clone();
    let runtime = lane.runtime.clone();
    tasks.spawn_on(task(lane), &runtime);
}

/// Process ids for the history: an id is reused after a definite outcome,
/// and after an unknown one it is never used again (the operation may still
/// take effect, and a process has one operation at a time).
struct Processes {
    free: Vec<u64>,
    next: u64,
}

/// One lane's view of the run.
struct Shared<D> {
    driver: Arc<D>,
    runtime: tokio::runtime::Handle,
    common: Arc<Common>,
}

/// What every lane of a run shares.
struct Common {
    /// Reads take these in turn.
    reads: Vec<Consistency>,
    read_count: AtomicUsize,
    /// Where scans of the run's registers stop.
    scan_end: String,
    /// A bank's accounts' keys, by account.
    accounts: Vec<String>,
    recorder: Mutex<Recorder>,
    processes: Mutex<Processes>,
    start: Instant,
}

impl Common {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn next_read(&self) -> Consistency {
        self.reads[self.read_count.fetch_add(1, Ordering::Relaxed) % self.reads.len()]
    }

    fn recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder.lock().expect("not poisoned")
    }

    fn take_process(&self) -> u64 {
        let mut p = self.processes.lock().expect("not poisoned");
        p.free.pop().unwrap_or_else(|| {
            p.next += 1;
            p.next - 1
        })
    }

    fn return_process(&self, process: u64) {
        self.processes.lock().expect("not poisoned").free.push(process);
    }

    /// The run's record, once every lane has let go of it.
    fn into_recorder(self: Arc<Self>) -> Recorder {
        let common = Arc::try_unwrap(self).ok().expect("every task is done");
        common.recorder.into_inner().expect("not poisoned")
    }
}

impl<D: Driver> Shared<D> {
    /// Sends one operation (a cas or read-modify-write is a read, then a
    /// write that depends on it) and records it; returns whether the process
    /// stays usable.
    async fn perform(&self, process: u64, mut op: Op, intended: Duration) -> bool {
        let sent = self.common.now();
        let name = op.kind.name();
        let mut outcome = Outcome::Ok(Value::Null);
        if matches!(op.kind, OpKind::Cas | OpKind::ReadModifyWrite) {
            let read = Op::on_key(OpKind::Read, op.key.clone(), Bytes::new());
            outcome = self.step(process, &read).await;
            if let Outcome::Ok(seen) = &outcome {
                op.expected = seen.as_str().map(|s| Bytes::copy_from_slice(s.as_bytes()));
                if op.kind == OpKind::ReadModifyWrite {
                    op.kind = OpKind::Update;
                }
            }
        }
        if matches!(outcome, Outcome::Ok(_)) {
            outcome = self.step(process, &op).await;
        }
        let done = self.common.now();
        self.common.recorder().record(name, intended, sent, done, &outcome);
        !matches!(outcome, Outcome::Unknown(_))
    }

    /// One single-request operation, with its invoke and completion in the
    /// history (scans have no history function and are left out of it).
    async fn step(&self, process: u64, op: &Op) -> Outcome {
        let text = |b: &[u8]| Value::String(String::from_utf8_lossy(b).into_owned());
        let (d, key, value) = (&self.driver, op.key.as_str(), op.value.clone());
        match op.kind {
            OpKind::Read | OpKind::ReadModifyWrite => {
                let c = self.common.next_read();
                self.traced_read(process, Function::Get, key, c, d.get(key, c)).await
            }
            OpKind::Update | OpKind::Insert => {
                self.traced(process, Function::Put, key, text(&value), None, d.put(key, value)).await
            }
            OpKind::Delete => self.traced(process, Function::Delete, key, Value::Null, None, d.delete(key)).await,
            OpKind::Cas => {
                let input = json!([op.expected.as_deref().map(text), text(&value)]);
                self.traced(process, Function::Cas, key, input, None, d.cas(key, op.expected.clone(), value)).await
            }
            OpKind::Append => {
                self.traced(process, Function::Append, key, text(&value), None, d.append(key, value)).await
            }
            OpKind::ListRead => {
                let c = self.common.next_read();
                self.traced_read(process, Function::Read, key, c, d.read_list(key, c)).await
            }
            OpKind::Scan => d.scan(key, &self.common.scan_end, op.limit).await,
            OpKind::Transfer => {
                let t = op.transfer.expect("a transfer says between whom");
                let input = json!({"from": t.from, "to": t.to, "amount": t.amount});
                self.traced(process, Function::Transfer, "", input, None, self.transfer(t)).await
            }
            OpKind::BankRead => self.traced(process, Function::Read, "", Value::Null, None, self.read_accounts()).await,
            OpKind::Add => {
                let element = json!(op.element.expect("an add says what it adds"));
                self.traced(process, Function::Add, "", element, None, d.append(key, value)).await
            }
        }
    }

    /// Reads both balances, then moves the money if neither changed
    /// meanwhile (one write of both); a transfer that would overdraw fails,
    /// as in Jepsen's bank.
    async fn transfer(&self, t: Transfer) -> Outcome {
        let accounts = &self.common.accounts;
        let (from, to) = (accounts[t.from as usize].clone(), accounts[t.to as usize].clone());
        let read = self.driver.read_registers(&[from.clone(), to.clone()]).await;
        let Outcome::Ok(balances) = read else { return read };
        let balance = |key: &str| balances.get(key).and_then(Value::as_str).and_then(|b| b.parse::<u64>().ok());
        let (Some(from_balance), Some(to_balance)) = (balance(&from), balance(&to)) else {
            return Outcome::Failed(format!("an account holds no balance: {balances}"));
        };
        if from_balance < t.amount {
            return Outcome::Failed("insufficient funds".into());
        }
        let text = |n: u64| Bytes::from(n.to_string());
        let compares = [(from.clone(), Some(text(from_balance))), (to.clone(), Some(text(to_balance)))];
        let puts = [(from, text(from_balance - t.amount)), (to, text(to_balance + t.amount))];
        self.driver.write_if(&compares, &puts).await
    }

    /// Every account at once, as `{account: balance}` with the balances as
    /// numbers (anything else as stored, for the checker to see).
    async fn read_accounts(&self) -> Outcome {
        let accounts = &self.common.accounts;
        match self.driver.read_registers(accounts).await {
            Outcome::Ok(found) => Outcome::Ok(Value::Object(
                accounts
                    .iter()
                    .enumerate()
                    .map(|(account, key)| {
                        let stored = found.get(key).cloned().unwrap_or(Value::Null);
                        let balance = stored.as_str().and_then(|b| b.parse::<i64>().ok()).map_or(stored, Value::from);
                        (account.to_string(), balance)
                    })
                    .collect(),
            )),
            other => other,
        }
    }

    /// A read, its events saying how the target served it.
    async fn traced_read(
        &self,
        process: u64,
        f: Function,
        key: &str,
        consistency: Consistency,
        call: impl Future<Output = Outcome>,
    ) -> Outcome {
        self.traced(process, f, key, Value::Null, Some(self.driver.read_kind(consistency)), call).await
    }

    async fn traced(
        &self,
        process: u64,
        f: Function,
        key: &str,
        input: Value,
        read_kind: Option<&str>,
        call: impl Future<Output = Outcome>,
    ) -> Outcome {
        let invoked = self.common.now();
        let event = |recorder: &mut Recorder, kind, value, at| {
            let e = recorder.event(process, kind, f, key, value, at);
            if let Some(read_kind) = read_kind {
                e.set_consistency(read_kind);
            }
        };
        event(&mut self.common.recorder(), EventType::Invoke, input.clone(), invoked);
        let outcome = call.await;
        let (kind, value) = match &outcome {
            Outcome::Ok(read) if matches!(f, Function::Get | Function::Read) => (EventType::Ok, read.clone()),
            Outcome::Ok(_) => (EventType::Ok, input),
            Outcome::Failed(_) => (EventType::Fail, input),
            Outcome::Unknown(_) => (EventType::Info, input),
        };
        let done = self.common.now();
        event(&mut self.common.recorder(), kind, value, done);
        outcome
    }
}
