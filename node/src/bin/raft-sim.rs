//! Runs the seeded whole-cluster simulation of the Raft core over many seeds.
//!
//! Every seed is a different history of faults, load and timing; every
//! failure is replayable from its seed with the command printed.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::Parser;
use raft::UnsafeBug;
use raft::sim::{Options, Outcome, Violation, run};

/// Simulate a Raft cluster under faults, seed after seed, checking safety
/// (one leader per term, one vote per term, log matching, leader
/// completeness, commits durable on a quorum, one applied sequence,
/// linearizable reads) and liveness after the faults heal.
///
/// Exit status: 0 when every seed passed, 1 when a seed broke an invariant,
/// 2 on bad arguments.
#[derive(Parser, Debug)]
#[command(name = "raft-sim", version)]
struct Args {
    /// Voters at the start (more join and leave during the run).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// How many seeds to run, starting at --first-seed.
    #[arg(long, default_value_t = 300)]
    seeds: u64,
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Run exactly this one seed (a replay); implies --seeds 1.
    #[arg(long, conflicts_with_all = ["seeds", "first_seed"])]
    seed: Option<u64>,
    /// Plant a deliberate bug in every node, to show the invariants catch it
    /// (repeatable). Known: stale-lease-read, ack-before-persist,
    /// leader-self-ack, forget-vote, commit-old-term (ignore-fsync-error and
    /// forget-snapshot-install are storage bugs: chaos catches them, the
    /// simulation has no storage).
    #[arg(long = "unsafe-bug", value_name = "NAME")]
    unsafe_bugs: Vec<UnsafeBug>,
    /// Ticks of faults under load before everything heals.
    #[arg(long, default_value_t = Options::new(0, 0).fault_ticks)]
    fault_ticks: u64,
    /// Ticks the healed cluster has to commit a new write.
    #[arg(long, default_value_t = Options::new(0, 0).recovery_ticks)]
    recovery_ticks: u64,
    /// Print every delivered message (use with --seed).
    #[arg(long)]
    trace: bool,
    /// Run every seed even after a violation, and count them all.
    #[arg(long)]
    keep_going: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
}

impl Args {
    fn options(&self, seed: u64) -> Options {
        let mut o = Options::new(self.nodes as usize, seed);
        o.bugs = self.unsafe_bugs.iter().copied().collect();
        o.fault_ticks = self.fault_ticks;
        o.recovery_ticks = self.recovery_ticks;
        o.trace = self.trace;
        o
    }
}

struct Totals {
    violations: Vec<(u64, Violation)>,
    events: u64,
    writes: u64,
    reads: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (first, count) = match args.seed {
        Some(seed) => (seed, 1),
        None => (args.first_seed, args.seeds),
    };
    if let Some(bug) = args.unsafe_bugs.iter().find(|b| b.in_node_storage()) {
        eprintln!(
            "error: --unsafe-bug {bug} is planted in the node's storage, which the simulation does not have; \
             `chaos run workloads/bugs/{bug}.yaml --unsafe-inject-bug {bug}` catches it"
        );
        return ExitCode::from(2);
    }
    if !args.unsafe_bugs.is_empty() {
        let names: Vec<String> = args.unsafe_bugs.iter().map(|b| b.to_string()).collect();
        eprintln!("WARNING: UNSAFE BUGS PLANTED IN EVERY NODE: {} (violations are expected)", names.join(", "));
    }
    let started = Instant::now();
    let next = AtomicU64::new(first);
    // Without --keep-going, seeds above the lowest failing one are skipped.
    let stop_above = AtomicU64::new(u64::MAX);
    let done = AtomicU64::new(0);
    let totals = Mutex::new(Totals { violations: Vec::new(), events: 0, writes: 0, reads: 0 });
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let progress = std::io::stderr().is_terminal() && count > 1;
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= first + count || seed > stop_above.load(Ordering::Relaxed) {
                        break;
                    }
                    let Outcome { violation, stats } = run(&args.options(seed));
                    let mut t = totals.lock().expect("no worker panics while holding it");
                    t.events += stats.events;
                    t.writes += stats.writes_acked;
                    t.reads += stats.reads_served.iter().sum::<u64>();
                    if let Some(v) = violation {
                        t.violations.push((seed, v));
                        if !args.keep_going {
                            stop_above.fetch_min(seed, Ordering::Relaxed);
                        }
                    }
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if progress && finished.is_multiple_of((count / 20).max(1)) {
                        eprint!("\r{finished}/{count} seeds");
                    }
                }
            });
        }
    });
    if progress {
        eprint!("\r");
    }
    let mut t = totals.into_inner().expect("workers are done");
    t.violations.sort_by_key(|(seed, _)| *seed);
    if !args.keep_going {
        t.violations.truncate(1);
    }
    for (seed, v) in &t.violations {
        println!("seed {seed}: {} violated: {v}", v.invariant);
        println!("  replay: {}", args.options(*seed).replay_command());
    }
    let ran = done.load(Ordering::Relaxed);
    let first_failing = t.violations.first().map_or("none".to_string(), |(s, v)| format!("{s} ({})", v.invariant));
    println!(
        "raft-sim: nodes={} seeds={ran} violations={} first_failing_seed={first_failing} events={} writes_acked={} \
         reads_served={} elapsed={:.1}s{}",
        args.nodes,
        t.violations.len(),
        t.events,
        t.writes,
        t.reads,
        started.elapsed().as_secs_f64(),
        if args.unsafe_bugs.is_empty() { "" } else { " UNSAFE-BUGS-PLANTED" }
    );
    if t.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
