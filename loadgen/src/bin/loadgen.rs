//! `loadgen`: run a YAML workload against a cluster and report latency.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use loadgen::driver::{Driver, EtcdDriver, FakeDriver, RaftDriver};
use loadgen::lanes;
use loadgen::output::{Summary, write_all};
use loadgen::run::{Lane, read_set_at_end, run_lanes, unsupported};
use loadgen::target::Target;
use loadgen::workload::{Workload, parse_duration};
use node::runtimes::RuntimeThreads;

/// mimalloc rather than glibc's malloc: glibc's `_int_malloc`,
/// `unlink_chunk` and `malloc_consolidate` took about a quarter of
/// loadgen's CPU under 64 clients' puts, CPU that the system under test
/// shares.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit statuses, for scripts.
const RUN_MOSTLY_FAILED: u8 = 1;
const BAD_INPUT: u8 = 2;
const UNREACHABLE: u8 = 3;
const WRITE_FAILED: u8 = 4;
const NO_THREADS: u8 = 5;

/// Measure a replicated key-value store honestly: open loop at a target rate
/// with latency counted from each operation's intended send time
/// (coordinated-omission corrected, as wrk2; the uncorrected latency is kept
/// too), or closed loop with N clients. Every operation is recorded as a
/// history that `chaos check` can judge.
///
/// Exit status: 0 the run completed and most operations succeeded; 1 it
/// completed but fewer than half succeeded; 2 bad workload, bad --target, or
/// an operation the target does not support; 3 the target is unreachable;
/// 4 the results could not be written; 5 loadgen could not start its
/// threads.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run WORKLOAD (a YAML file, see workloads/ycsb-a.yaml) against --target.
    Run {
        workload: PathBuf,
        /// etcd://HOST:PORT,... (an etcd v3 cluster), raft://HOST:PORT,...
        /// (raft-node), or fake:// (in-process; fake://noop answers at once,
        /// to measure loadgen itself; fake://?latency=2ms&stall_at=5s&stall=1s).
        #[arg(long)]
        target: String,
        /// Directory for summary.json, *.hgrm, timeline.csv and history.jsonl.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seeds the operation mix, keys and values: the same seed sends the
        /// same operations.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Override the workload's duration (e.g. 10s); the warm-up is cut to
        /// half of it at most.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Override the workload's warm-up (e.g. 2s; applied after --duration).
        #[arg(long, value_parser = parse_duration)]
        warmup: Option<Duration>,
        /// Override the workload's open-loop base rate (operations per second).
        #[arg(long)]
        rate: Option<f64>,
        /// Override the clients (closed loop) or operations in flight (open).
        #[arg(long)]
        clients: Option<usize>,
        /// Prefix of every key (default: one unique per run, so that each
        /// history is checkable on its own against a long-lived cluster).
        #[arg(long)]
        key_prefix: Option<String>,
        /// Threads running the clients, each with its own connections to
        /// the target (as wrk's threads); default one per CPU. The clients
        /// are dealt over them in turn.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        workers: Option<u16>,
    },
}

fn main() -> ExitCode {
    let Command::Run { workload, target, out, seed, duration, warmup, rate, clients, key_prefix, workers } =
        Cli::parse().command;
    let mut w = match Workload::load(&workload) {
        Ok(w) => w,
        Err(e) => return fail(BAD_INPUT, e),
    };
    if let Some(d) = duration {
        w.load.duration = d;
        w.load.warmup = w.load.warmup.min(d / 2);
    }
    if let Some(warmup) = warmup {
        if warmup >= w.load.duration {
            return fail(BAD_INPUT, format!("--warmup {warmup:?} leaves nothing of the {:?} run", w.load.duration));
        }
        w.load.warmup = warmup;
    }
    w.load.rate = rate.or(w.load.rate);
    w.load.clients = clients.or(w.load.clients);
    let parsed: Target = match target.parse() {
        Ok(t) => t,
        Err(e) => return fail(BAD_INPUT, e),
    };
    let prefix = key_prefix.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("r{:x}-", now.as_millis())
    });
    let run = Run { workload: &w, target: &target, seed, out, prefix };
    let threads = node::thread_count(workers);
    let (runtime, threads) = match (
        tokio::runtime::Builder::new_current_thread().enable_all().build(),
        RuntimeThreads::start(threads, "lane"),
    ) {
        (Ok(runtime), Ok(threads)) => (runtime, threads),
        (Err(e), _) | (_, Err(e)) => return fail(NO_THREADS, format!("cannot start the client threads: {e}")),
    };
    runtime.block_on(async {
        match parsed {
            Target::Etcd(endpoints) => {
                let connect = || {
                    let endpoints = endpoints.clone();
                    async move { EtcdDriver::connect(&endpoints, Duration::from_secs(3)).await }
                };
                match lanes::build(&threads, connect).await {
                    Ok(lanes) => run.go(lanes).await,
                    Err(e) => fail(UNREACHABLE, format!("target {target}: {e}")),
                }
            }
            Target::Raft(endpoints) => {
                let new = || {
                    let endpoints = endpoints.clone();
                    async move { Ok::<_, std::convert::Infallible>(RaftDriver::new(endpoints)) }
                };
                let Ok(lanes) = lanes::build(&threads, new).await;
                if let Some(why) = unsupported(&w, lanes[0].driver.as_ref()) {
                    return fail(BAD_INPUT, why);
                }
                // On the lane's own thread: the connections this opens are
                // the lane's, and a connection's task runs where it opened.
                let driver = lanes[0].driver.clone();
                let reachable = lanes[0].runtime.spawn(async move { driver.check_reachable().await });
                match reachable.await.expect("a runtime thread runs until dropped") {
                    Ok(()) => run.go(lanes).await,
                    Err(e) => fail(UNREACHABLE, format!("target {target}: {e}")),
                }
            }
            Target::Fake(options) => {
                run.go(lanes::share(&threads, std::sync::Arc::new(FakeDriver::new(options)))).await
            }
        }
    })
}

fn fail(code: u8, why: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(code)
}

struct Run<'a> {
    workload: &'a Workload,
    target: &'a str,
    seed: u64,
    out: Option<PathBuf>,
    prefix: String,
}

impl Run<'_> {
    async fn go<D: Driver>(self, lanes: Vec<Lane<D>>) -> ExitCode {
        let w = self.workload;
        let driver = lanes[0].driver.clone();
        if let Some(why) = unsupported(w, driver.as_ref()) {
            return fail(BAD_INPUT, why);
        }
        let progress = std::io::stderr().is_terminal().then(|| progress_bar(w.load.duration));
        let (mut recorder, rate) = run_lanes(w, &lanes, self.seed, &self.prefix).await;
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        if let Some(why) = &recorder.setup_failed {
            return fail(UNREACHABLE, format!("target {}: {why}", self.target));
        }
        read_set_at_end(w, driver.as_ref(), &mut recorder, &self.prefix).await;
        let summary = Summary::new(&recorder, w, self.target, self.seed, &self.prefix, rate);
        print!("{}", summary.text());
        if let Some(dir) = &self.out {
            if let Err(e) = write_all(dir, &summary, &recorder) {
                return fail(WRITE_FAILED, format!("writing {}: {e}", dir.display()));
            }
            println!("results in {}", dir.display());
        }
        let ok = summary.outcomes.get("ok").copied().unwrap_or(0);
        let total: u64 = summary.outcomes.values().sum();
        if total == 0 || ok * 2 < total { ExitCode::from(RUN_MOSTLY_FAILED) } else { ExitCode::SUCCESS }
    }
}

/// Seconds of the schedule, on stderr; advanced by a task that stops with
/// the schedule.
fn progress_bar(duration: Duration) -> indicatif::ProgressBar {
    let seconds = duration.as_secs().max(1);
    let bar = indicatif::ProgressBar::new(seconds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} s")
            .expect("a valid template"),
    );
    let ticker = bar.clone();
    tokio::spawn(async move {
        for _ in 0..seconds {
            tokio::time::sleep(Duration::from_secs(1)).await;
            ticker.inc(1);
        }
    });
    bar
}
