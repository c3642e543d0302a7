//! `chaos`: run a scenario against a cluster under faults, or check a
//! recorded history.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chaos::check::{Budget, CheckResult, Verdict, check_list_append, check_registers};
use clap::{Parser, Subcommand, ValueEnum};
use history::Function;

/// Judge what a replicated system did.
///
/// Exit status: 0 valid, 1 invalid, 2 unknown or an error (the message says
/// which).
#[derive(Parser, Debug)]
#[command(name = "chaos", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a cluster of local raft-node processes, run the scenario's
    /// workload while injecting its faults, heal, check, and write the
    /// results (summary.json, junit.xml, history.jsonl, events.jsonl,
    /// node logs) to --out. Partitions use iptables when run as root.
    Run {
        scenario: PathBuf,
        /// Results directory (default: runs/NAME-TIMESTAMP).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// The raft-node binary (default: next to this one).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Node n listens on 127.0.0.(ip-base + n):port.
        #[arg(long, default_value_t = 60)]
        ip_base: u8,
        #[arg(long, default_value_t = 17500)]
        port: u16,
        /// Keep the nodes' data directories (their logs are always kept).
        #[arg(long)]
        keep: bool,
    },
    /// Check a recorded history (JSON Lines, one event per line).
    Check {
        #[arg(long)]
        history: PathBuf,
        /// The data model the operations act on (default: list-append when the
        /// history has append or read operations, register otherwise).
        #[arg(long, value_enum)]
        model: Option<Model>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Give up (verdict unknown) after this many seconds.
        #[arg(long, default_value_t = 60)]
        time_limit: u64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Model {
    /// put / get / delete / cas on registers: linearizability, key by key.
    Register,
    /// append / read on lists: lost, duplicated, reordered or invented values.
    ListAppend,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { history, model, json, time_limit } => check(history, model, json, time_limit),
        Command::Run { scenario, out, seed, binary, ip_base, port, keep } => {
            run(scenario, out, seed, binary, RunPlace { ip_base, port, keep })
        }
    }
}

/// Where the nodes of a run live.
struct RunPlace {
    ip_base: u8,
    port: u16,
    keep: bool,
}

fn run(path: PathBuf, out: Option<PathBuf>, seed: Option<u64>, binary: Option<PathBuf>, place: RunPlace) -> ExitCode {
    let mut scenario = match chaos::scenario::Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(seed) = seed {
        scenario.file.seed = seed;
    }
    let binary = binary.unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        exe.with_file_name("raft-node")
    });
    if !binary.exists() {
        eprintln!("error: {} not found: build it (cargo build --release -p node) or pass --binary", binary.display());
        return ExitCode::from(2);
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let out = out.unwrap_or_else(|| PathBuf::from(format!("runs/{}-{stamp}", scenario.file.name)));
    let options = chaos::runner::RunOptions {
        binary,
        out: out.clone(),
        ip_base: place.ip_base,
        port: place.port,
        keep_data: place.keep,
    };
    if !scenario.file.cluster.unsafe_bugs.is_empty() {
        eprintln!("WARNING: UNSAFE BUGS PLANTED IN EVERY NODE: {:?}", scenario.file.cluster.unsafe_bugs);
    }
    eprintln!("running {} for {:?} (seed {}) ...", path.display(), scenario.workload.load.duration, scenario.file.seed);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    // Ctrl-C drops the run, and with it the backend, which kills the
    // nodes and removes the firewall rules.
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = chaos::runner::run(&scenario, &options) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    let report = match outcome {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            eprintln!("error: harness: {e}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("interrupted: nodes stopped and firewall rules removed; no verdict");
            return ExitCode::from(2);
        }
    };
    println!("scenario {} (seed {}), partitions by {}", report.scenario, report.seed, report.cut_mechanism);
    if !report.unsafe_bugs.is_empty() {
        println!("UNSAFE BUGS PLANTED: {:?}", report.unsafe_bugs);
    }
    for f in &report.faults {
        let (s, e) = (f.start_ns as f64 / 1e9, f.end_ns as f64 / 1e9);
        println!("fault {:<16} nodes {:?} {s:>6.1}s-{e:>6.1}s  {}", f.kind, f.target, f.confirmed);
    }
    for r in &report.recoveries {
        let ms = |v: Option<u64>| v.map_or("never".to_string(), |ns| format!("{:.0} ms", ns as f64 / 1e6));
        println!(
            "recovery {:<13} first write after {}, first leader after {}",
            r.fault,
            ms(r.to_first_write_ns),
            ms(r.to_first_leader_ns)
        );
    }
    println!("load: {:.0} ops/s, outcomes {:?}", report.rate.achieved_rate, report.outcomes);
    for c in &report.checks {
        println!("{:<22} {:?}: {}", c.checker, c.verdict, c.reason);
    }
    println!("verdict: {:?}; results in {}", report.verdict, out.display());
    match report.verdict {
        Verdict::Valid => ExitCode::SUCCESS,
        Verdict::Invalid => ExitCode::from(1),
        Verdict::Unknown => ExitCode::from(2),
    }
}

fn check(history: PathBuf, model: Option<Model>, json: bool, time_limit: u64) -> ExitCode {
    let file = match std::fs::File::open(&history) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", history.display());
            return ExitCode::from(2);
        }
    };
    let events = match history::read(std::io::BufReader::new(file)) {
        Ok(events) => events,
        Err(e) => {
            eprintln!("error: {}: {e}", history.display());
            return ExitCode::from(2);
        }
    };
    let model = model.unwrap_or_else(|| {
        let lists = events.iter().any(|e| matches!(e.f, Function::Append | Function::Read));
        let inferred = if lists { Model::ListAppend } else { Model::Register };
        eprintln!("model: {inferred:?} (inferred from the operations; --model to choose)");
        inferred
    });
    let result = match model {
        Model::Register => {
            check_registers(&events, Budget { time: Duration::from_secs(time_limit), ..Budget::default() })
        }
        Model::ListAppend => check_list_append(&events),
    };
    report(&result, json);
    match result.verdict {
        Verdict::Valid => ExitCode::SUCCESS,
        Verdict::Invalid => ExitCode::from(1),
        Verdict::Unknown => ExitCode::from(2),
    }
}

/// Prints the result; a closed stdout (`| head`) is not an error worth a panic.
fn report(result: &CheckResult, json: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(result).expect("results serialize"));
        return;
    }
    let verdict = match result.verdict {
        Verdict::Valid => "VALID",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "UNKNOWN",
    };
    let _ = writeln!(out, "{}: {verdict}: {}", result.checker, result.reason);
    if !result.counterexample.is_empty() {
        let _ = writeln!(out, "counterexample:");
        for e in &result.counterexample {
            let _ = writeln!(out, "  {}", serde_json::to_string(e).expect("events serialize"));
        }
    }
}
