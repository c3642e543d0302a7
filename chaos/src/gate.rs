//! `chaos gate SUITE.yaml`: the suite's runs in turn, each in its own
//! directory under the gate's, then one `junit.xml`, `summary.json` and
//! `index.html` for all of them: what a CI job gates on.
//!
//! A run that is not valid does not stop the others (unless `fail_fast`);
//! a stop signal ends the run going on (which cleans up as `chaos run`
//! does) and the combined files are written for the runs done.

use std::path::{Path, PathBuf};
use std::time::Instant;

use reports::gate::{GATE_SCHEMA_VERSION, GateRun, GateSummary, RunVerdict};

use crate::check::Verdict;
use crate::launch::{self, StopSignals, Watched};
use crate::runner::{RunError, RunOptions};
use crate::scenario::BackendKind;
use crate::suite::Suite;

pub struct GateOptions {
    /// The gate's directory: a directory per run, and the combined files
    /// (default: runs/gate-NAME-TIMESTAMP).
    pub out: Option<PathBuf>,
    /// Stop after the first run that is not valid.
    pub fail_fast: bool,
    /// Overrides every run's backend.
    pub backend: Option<BackendKind>,
    /// The raft-node program (default: as `chaos run` finds it).
    pub binary: Option<PathBuf>,
    /// Members of every run get 127.0.0.(ip_base + id):port (default: the
    /// first free block, looked for anew before each run).
    pub ip_base: Option<u8>,
    pub port: u16,
    pub keep_data: bool,
}

/// 0 every run valid; 1 a run invalid; 2 otherwise.
fn exit_code(runs: &[GateRun], interrupted: bool) -> u8 {
    if runs.iter().any(|r| r.verdict == RunVerdict::Invalid) {
        1
    } else if runs.iter().all(|r| r.verdict == RunVerdict::Valid) && !interrupted {
        0
    } else {
        2
    }
}

/// Builds what the runs need, runs them in turn, and writes the combined
/// files. An error here (a raft-node that cannot be built, an unwritable
/// directory) means no gate verdict at all.
/// Returns the gate's summary and its directory.
pub fn run(mut suite: Suite, options: &GateOptions) -> Result<(GateSummary, PathBuf), String> {
    if let Some(backend) = options.backend {
        for planned in &mut suite.runs {
            planned.scenario.file.backend = backend;
        }
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let out = options.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/gate-{}-{stamp}", suite.name)));
    let binaries = node_binaries(&suite, options)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start a runtime: {e}"))?;
    let (runs, interrupted) = runtime.block_on(async {
        let mut stop = StopSignals::install().map_err(|e| format!("cannot handle Ctrl-C and SIGTERM: {e}"))?;
        Ok::<_, String>(run_all(&suite, options, &out, &binaries, &mut stop).await)
    })?;
    let summary = GateSummary {
        schema_version: GATE_SCHEMA_VERSION,
        suite: suite.path.display().to_string(),
        name: suite.name.clone(),
        exit_code: exit_code(&runs, interrupted),
        interrupted,
        runs,
    };
    reports::gate::write(&out, &summary).map_err(|e| format!("writing {}: {e}", out.display()))?;
    Ok((summary, out))
}

/// The raft-node for each backend the suite uses, built before the first run.
fn node_binaries(suite: &Suite, options: &GateOptions) -> Result<Vec<(BackendKind, PathBuf)>, String> {
    let mut binaries: Vec<(BackendKind, PathBuf)> = Vec::new();
    for planned in &suite.runs {
        let backend = planned.scenario.file.backend;
        if !binaries.iter().any(|(b, _)| *b == backend) {
            binaries.push((backend, launch::node_binary(backend, options.binary.clone())?));
        }
    }
    Ok(binaries)
}

/// Every run in turn, until one stops the gate; whether a signal did.
async fn run_all(
    suite: &Suite,
    options: &GateOptions,
    out: &Path,
    binaries: &[(BackendKind, PathBuf)],
    stop: &mut StopSignals,
) -> (Vec<GateRun>, bool) {
    let total = suite.runs.len();
    let mut runs = Vec::new();
    let mut stopped_by: Option<String> = None;
    let mut interrupted = false;
    for (i, planned) in suite.runs.iter().enumerate() {
        let scenario = &planned.scenario;
        let file = &scenario.file;
        let mut run = GateRun {
            name: planned.name.clone(),
            scenario: planned.scenario_path.display().to_string(),
            scenario_name: file.name.clone(),
            seed: file.seed,
            backend: file.backend.name().to_string(),
            unsafe_bugs: file.cluster.unsafe_bugs.clone(),
            verdict: RunVerdict::NotRun,
            reason: stopped_by.clone(),
            path: planned.name.clone(),
            seconds: 0.0,
            summary: None,
        };
        if stopped_by.is_some() {
            runs.push(run);
            continue;
        }
        let progress = format!("[{}/{total}] {} (seed {}, {})", i + 1, planned.name, file.seed, file.backend.name());
        let bugs = if run.unsafe_bugs.is_empty() {
            String::new()
        } else {
            format!(" WITH UNSAFE BUGS PLANTED: {}", run.unsafe_bugs.join(", "))
        };
        eprintln!("{progress}: running {}{bugs} ...", planned.scenario_path.display());
        let started = Instant::now();
        let binary = binaries.iter().find(|(b, _)| *b == file.backend).map(|(_, p)| p.clone());
        let place = options.ip_base.or_else(|| launch::free_ip_base(options.port));
        let watched = match (binary, place) {
            (Some(raft_node), Some(ip_base)) => {
                let run_options = RunOptions {
                    raft_node,
                    etcd: None,
                    out: out.join(&planned.name),
                    ip_base,
                    port: options.port,
                    keep_data: options.keep_data,
                };
                launch::run_watched(scenario, &run_options, stop).await
            }
            (None, _) => Watched::Finished(Err(RunError::Cluster("no raft-node for this backend".into()))),
            (_, None) => Watched::Finished(Err(RunError::Cluster(format!(
                "every address block 127.0.0.61-249 is busy on port {}",
                options.port
            )))),
        };
        run.seconds = started.elapsed().as_secs_f64();
        (run.verdict, run.reason) = match watched {
            Watched::Finished(Ok(report)) => {
                let verdict = match report.verdict {
                    Verdict::Valid => RunVerdict::Valid,
                    Verdict::Invalid => RunVerdict::Invalid,
                    Verdict::Unknown => RunVerdict::Unknown,
                };
                run.summary = Some(report);
                (verdict, None)
            }
            Watched::Finished(Err(e @ RunError::Refused(_))) => (RunVerdict::Error, Some(e.to_string())),
            Watched::Finished(Err(e)) => (RunVerdict::Error, Some(format!("harness: {e}"))),
            Watched::Interrupted => {
                interrupted = true;
                let why = "interrupted: its nodes stopped and firewall rules removed";
                (RunVerdict::Interrupted, Some(why.to_string()))
            }
        };
        let why = run.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        eprintln!("{progress}: {} in {:.1} s{why}", run.verdict, run.seconds);
        if interrupted {
            stopped_by = Some(format!("the gate was interrupted during {}", planned.name));
        } else if options.fail_fast && run.verdict != RunVerdict::Valid {
            stopped_by = Some(format!("--fail-fast: {} was {}", planned.name, run.verdict));
        }
        runs.push(run);
    }
    (runs, interrupted)
}
