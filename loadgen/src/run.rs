//! Running a workload: open loop (a schedule of intended send times, kept
//! whatever the latency, as wrk2 does) or closed loop (N clients, each
//! waiting for its answer).
//!
//! Open-loop latency is measured from the intended send time: when the
//! target stalls, the operations that should have been sent meanwhile count
//! their wait, which a closed-loop tool silently omits (coordinated
//! omission). The latency from the actual send time is recorded too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use history::{EventType, Function};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::driver::{Driver, Outcome};
use crate::ops::{Generator, Op, OpKind};
use crate::record::Recorder;
use crate::workload::{Mode, Workload};

/// Process ids for the history: a client slot keeps its id until an
/// operation's outcome is unknown, after which that id is never used again.
struct Processes {
    free: Vec<u64>,
    next: u64,
}

impl Processes {
    fn take(&mut self) -> u64 {
        self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

struct Shared<D> {
    driver: D,
    recorder: Mutex<Recorder>,
    processes: Mutex<Processes>,
    start: Instant,
}

impl<D: Driver> Shared<D> {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Sends one operation (a cas or read-modify-write is a read then a
    /// write) and records it; returns whether the process stays usable.
    async fn perform(&self, process: u64, mut op: Op, intended: Duration) -> bool {
        let sent = self.now();
        if matches!(op.kind, OpKind::Cas | OpKind::ReadModifyWrite) {
            let read = Op { kind: OpKind::Read, key: op.key.clone(), value: op.value.clone(), expected: None };
            let outcome = self.step(process, &read).await;
            match outcome {
                Outcome::Ok(Value::String(s)) => op.expected = Some(s.into_bytes().into()),
                Outcome::Ok(_) => op.expected = None,
                _ => {
                    let done = self.now();
                    self.recorder.lock().expect("not poisoned").record(op.kind.name(), intended, sent, done, &outcome);
                    return true;
                }
            }
        }
        let name = op.kind.name();
        if op.kind == OpKind::ReadModifyWrite {
            op.kind = OpKind::Update;
        }
        let outcome = self.step(process, &op).await;
        let done = self.now();
        self.recorder.lock().expect("not poisoned").record(name, intended, sent, done, &outcome);
        !matches!(outcome, Outcome::Unknown(_))
    }

    /// One operation's invoke and completion in the history.
    async fn step(&self, process: u64, op: &Op) -> Outcome {
        let text = |b: &[u8]| Value::String(String::from_utf8_lossy(b).into_owned());
        let (f, input) = match op.kind {
            OpKind::Read | OpKind::ReadModifyWrite => (Function::Get, Value::Null),
            OpKind::Update | OpKind::Insert => (Function::Put, text(&op.value)),
            OpKind::Delete => (Function::Delete, Value::Null),
            OpKind::Cas => (Function::Cas, json!([op.expected.as_deref().map(text), text(&op.value)])),
            OpKind::Append => (Function::Append, text(&op.value)),
            OpKind::ListRead => (Function::Read, Value::Null),
        };
        let invoked = self.now();
        self.recorder.lock().expect("not poisoned").event(
            process,
            EventType::Invoke,
            f,
            &op.key,
            input.clone(),
            invoked,
        );
        let outcome = self.driver.execute(op).await;
        let (kind, value) = match &outcome {
            Outcome::Ok(v) if matches!(f, Function::Get | Function::Read) => (EventType::Ok, v.clone()),
            Outcome::Ok(_) => (EventType::Ok, input),
            Outcome::Failed(_) => (EventType::Fail, input),
            Outcome::Unknown(_) => (EventType::Info, input),
        };
        let done = self.now();
        self.recorder.lock().expect("not poisoned").event(process, kind, f, &op.key, value, done);
        outcome
    }
}

/// What the schedule achieved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RateReport {
    pub target_rate: Option<f64>,
    pub achieved_rate: f64,
    /// |achieved - target| / target, over the measured (post-warm-up) part,
    /// which lasts until the last operation completed.
    pub rate_error: Option<f64>,
    pub measured_seconds: f64,
}

/// Runs the workload against `driver` and returns what was recorded.
pub async fn run<D: Driver>(workload: &Workload, driver: D, seed: u64, key_prefix: &str) -> (Recorder, RateReport) {
    let shared = Arc::new(Shared {
        driver,
        recorder: Mutex::new(Recorder::new(workload.load.warmup)),
        processes: Mutex::new(Processes { free: Vec::new(), next: 0 }),
        start: Instant::now(),
    });
    let mut generator = Generator::new(workload, key_prefix);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let duration = workload.load.duration;
    let warmup = workload.load.warmup.min(duration);
    let clients = workload.load.clients.unwrap_or(64).max(1);
    let limit = Arc::new(Semaphore::new(clients));
    let mut tasks = tokio::task::JoinSet::new();
    match workload.load.mode {
        Mode::Open => {
            let mut intended = Duration::ZERO;
            while intended < duration {
                tokio::time::sleep_until(shared.start + intended).await;
                let permit = limit.clone().acquire_owned().await.expect("never closed");
                let op = generator.next(&mut rng);
                let s = shared.clone();
                let process = s.processes.lock().expect("not poisoned").take();
                tasks.spawn(async move {
                    let usable = s.perform(process, op, intended).await;
                    if usable {
                        s.processes.lock().expect("not poisoned").free.push(process);
                    }
                    drop(permit);
                });
                let rate = rate_at(workload, intended);
                intended += Duration::from_secs_f64(1.0 / rate);
                while tasks.try_join_next().is_some() {}
            }
        }
        Mode::Closed => {
            for client in 0..clients {
                let s = shared.clone();
                // Each client its own generator: tag its values apart.
                let mut local = Generator::new(workload, key_prefix).with_value_tag(client);
                let mut local_rng = ChaCha8Rng::seed_from_u64(rng_seed(&mut rng));
                tasks.spawn(async move {
                    let mut process = s.processes.lock().expect("not poisoned").take();
                    while s.now() < duration {
                        let op = local.next(&mut local_rng);
                        let at = s.now();
                        if !s.perform(process, op, at).await {
                            process = s.processes.lock().expect("not poisoned").take();
                        }
                    }
                });
            }
        }
    }
    // Let operations in flight finish, within reason; any left running stay
    // open in the history (their outcome is unknown).
    let _ = tokio::time::timeout(Duration::from_secs(30), async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    let recorder = Arc::try_unwrap(shared)
        .ok()
        .map(|s| s.recorder.into_inner().expect("not poisoned"))
        .unwrap_or_else(|| Recorder::new(warmup));
    // Over the time the measured operations really took: a sender that fell
    // behind its schedule finishes late, and its achieved rate shows it.
    let measured = recorder.last_done.max(duration).saturating_sub(warmup).as_secs_f64();
    let achieved = recorder.measured_ops as f64 / measured;
    let target = (workload.load.mode == Mode::Open).then(|| mean_rate(workload, warmup));
    let report = RateReport {
        target_rate: target,
        achieved_rate: achieved,
        rate_error: target.map(|t| (achieved - t).abs() / t),
        measured_seconds: measured,
    };
    (recorder, report)
}

fn rng_seed(rng: &mut ChaCha8Rng) -> u64 {
    use rand::RngExt;
    rng.random()
}

fn rate_at(workload: &Workload, at: Duration) -> f64 {
    let base = workload.load.rate.unwrap_or(1.0);
    // The latest step already reached, whatever order the file lists them in.
    workload.load.steps.iter().filter(|s| s.after <= at).max_by_key(|s| s.after).map_or(base, |s| s.rate)
}

/// The schedule's mean rate after the warm-up.
fn mean_rate(workload: &Workload, warmup: Duration) -> f64 {
    let end = workload.load.duration;
    let mut t = warmup;
    let mut ops = 0.0;
    let step = Duration::from_millis(1);
    while t < end {
        ops += rate_at(workload, t) * step.as_secs_f64();
        t += step;
    }
    ops / (end - warmup).as_secs_f64()
}
