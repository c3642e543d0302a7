//! `loadgen`: run a YAML workload against a cluster and report latency.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use loadgen::driver::{Driver, FakeDriver, RaftDriver};
use loadgen::output::{summary, write_all};
use loadgen::run::run;
use loadgen::workload::{Mode, Workload, parse_duration};

/// Measure a replicated key-value store honestly: open loop at a target rate
/// with latency counted from the intended send time (coordinated-omission
/// corrected, as wrk2), or closed loop with N clients.
///
/// Exit status: 0 the run completed, 1 it completed but most operations
/// failed, 2 bad input or an unreachable target.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run WORKLOAD (a YAML file, see workloads/) against --target.
    Run {
        workload: PathBuf,
        /// raft://IP:PORT,IP:PORT,... (raft-node) or fake:// (an in-process
        /// target answering at once, to measure loadgen itself).
        #[arg(long)]
        target: String,
        /// Directory for summary.json, *.hgrm, timeline.csv and history.jsonl.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Override the workload's duration (e.g. 10s).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Override the workload's open-loop rate (operations per second).
        #[arg(long)]
        rate: Option<f64>,
        /// Prefix of every key (default: one unique per run, so that each
        /// history is checkable on its own against a long-lived cluster).
        #[arg(long)]
        key_prefix: Option<String>,
    },
}

fn main() -> ExitCode {
    let Command::Run { workload, target, out, seed, duration, rate, key_prefix } = Cli::parse().command;
    let prefix = key_prefix.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("r{:x}-", now.as_millis())
    });
    let mut w = match Workload::load(&workload) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(d) = duration {
        w.load.duration = d;
        w.load.warmup = w.load.warmup.min(d / 2);
    }
    if let Some(r) = rate {
        w.load.rate = Some(r);
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        if let Some(endpoints) = target.strip_prefix("raft://") {
            let endpoints: Vec<String> = endpoints.split(',').map(str::to_owned).collect();
            let driver = RaftDriver::new(endpoints, w.consistency);
            if let Err(e) = driver.check_reachable().await {
                eprintln!("error: target {target}: {e}");
                return ExitCode::from(2);
            }
            go(&w, &target, driver, seed, out, &prefix).await
        } else if target == "fake://" {
            go(&w, &target, FakeDriver::new(Duration::ZERO), seed, out, &prefix).await
        } else if target.starts_with("etcd://") {
            eprintln!("error: the etcd driver is not built yet (see the README's status)");
            ExitCode::from(2)
        } else {
            eprintln!("error: --target must be raft://IP:PORT,... or fake://, not {target:?}");
            ExitCode::from(2)
        }
    })
}

async fn go<D: Driver>(
    w: &Workload,
    target: &str,
    driver: D,
    seed: u64,
    out: Option<PathBuf>,
    prefix: &str,
) -> ExitCode {
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(w.load.duration.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len}s {msg}")
                .expect("a valid template"),
        );
        let ticker = bar.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                ticker.inc(1);
            }
        });
        bar
    });
    let (recorder, rate) = run(w, driver, seed, prefix).await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mode = if w.load.mode == Mode::Open { "open" } else { "closed" };
    let s = summary(&recorder, &w.name, target, mode, seed, w.load.warmup.as_secs_f64(), rate);
    println!("workload {} against {target} ({mode} loop, seed {seed})", w.name);
    match s.rate.target_rate {
        Some(t) => println!(
            "rate: {:.0} ops/s achieved of {t:.0} target ({:.2}% off)",
            s.rate.achieved_rate,
            100.0 * s.rate.rate_error.unwrap_or(0.0)
        ),
        None => println!("rate: {:.0} ops/s", s.rate.achieved_rate),
    }
    println!("outcomes: {:?}", s.outcomes);
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "latency (ms)", "count", "p50", "p99", "p99.9", "p99.99", "max"
    );
    for (name, kinds) in &s.latency_us {
        for (kind, p) in kinds {
            let ms = |us: u64| us as f64 / 1000.0;
            println!(
                "{:<20} {:>10} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                format!("{name} {kind}"),
                p.count,
                ms(p.p50),
                ms(p.p99),
                ms(p.p999),
                ms(p.p9999),
                ms(p.max)
            );
        }
    }
    if let Some(dir) = out {
        if let Err(e) = write_all(&dir, &s, &recorder) {
            eprintln!("error: writing {}: {e}", dir.display());
            return ExitCode::from(2);
        }
        println!("results in {}", dir.display());
    }
    let ok = recorder.counts.get("ok").copied().unwrap_or(0);
    let total: u64 = recorder.counts.values().sum();
    if total == 0 || ok * 2 < total { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
