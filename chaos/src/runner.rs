//! `chaos run`: start a cluster, drive the workload, inject the faults on
//! schedule (each confirmed), heal, wait for the nodes to converge, check
//! everything, and write the results.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use history::Function;
use loadgen::driver::{Driver, EtcdDriver, Outcome, RaftDriver};
use loadgen::target::Target;
use loadgen::workload::{Consistency, WorkloadKind};
use reports::{Reproduce, SCHEMA_VERSION, Summary};
use tokio::time::Instant;

use crate::backend::docker::{DockerBackend, DockerOptions};
use crate::backend::{Backend, BackendError, ProcessBackend, ProcessOptions};
use crate::check::{
    Bank, Budget, CheckResult, FaultWindow, Recovery, Verdict, check_bank, check_convergence, check_list_append,
    check_registers, check_set, check_split_brain, lost_writes, recovery_times,
};
use crate::cluster::{Cluster, ClusterSpec, wall_ns};
use crate::fault::Abilities;
use crate::nemesis;
use crate::scenario::{BackendKind, CheckKind, FaultKind, Scenario, SystemKind};
use crate::system::{Etcd, EtcdOptions, RaftNode, RaftNodeOptions, System};
use crate::thresholds;

pub struct RunOptions {
    /// The program that runs a raft-node member.
    pub raft_node: PathBuf,
    /// The program that runs an etcd member; none: `etcd` on the PATH.
    pub etcd: Option<PathBuf>,
    pub out: PathBuf,
    /// Process backend: members get 127.0.0.(ip_base + id):port (and
    /// port + 1 for their peers, for a system that serves them apart).
    pub ip_base: u8,
    pub port: u16,
    /// Keep the members' data directories after the run (logs are kept always).
    pub keep_data: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Cluster(String),
    /// The scenario asks for what the system or backend cannot do; nothing
    /// was started.
    #[error("{0}")]
    Refused(String),
    #[error("writing results: {0}")]
    Io(#[from] std::io::Error),
    #[error("rendering the results: {0}")]
    Report(#[from] reports::ReadError),
}

/// What a run found: `summary.json`, typed and versioned in `reports`.
pub type RunReport = Summary;

/// How often the members' status is polled for the cluster timeline.
pub const STATUS_POLL: Duration = Duration::from_millis(250);

/// The system the scenario names; the error says what is missing.
pub fn system_for(kind: SystemKind, scenario: &Scenario, options: &RunOptions) -> Result<Arc<dyn System>, RunError> {
    Ok(match kind {
        SystemKind::RaftNode => Arc::new(RaftNode::new(RaftNodeOptions {
            program: options.raft_node.clone(),
            node_args: scenario.file.cluster.node_args.clone(),
            admin_token: None,
        })),
        SystemKind::Etcd => {
            let program = match &options.etcd {
                Some(program) => program.clone(),
                None => crate::build::on_path("etcd").ok_or_else(|| {
                    RunError::Refused(
                        "the etcd system needs the etcd program, and there is none on the PATH: install \
                         Debian's etcd-server (.ci/setup does), or pass --binary"
                            .into(),
                    )
                })?,
            };
            let member_args = scenario.file.cluster.etcd_args.clone();
            Arc::new(Etcd::new(EtcdOptions { program, member_args }))
        }
    })
}

/// The backend the scenario names: the one place a new backend plugs in.
/// Members serve peers on `port + 1` when the system wants a port for them.
pub async fn backend_for(
    kind: BackendKind,
    options: &RunOptions,
    system: &dyn System,
) -> Result<Box<dyn Backend>, RunError> {
    let run_dir = options.out.join("nodes");
    let (port, peer_port) = (options.port, if system.needs_peer_port() { options.port + 1 } else { options.port });
    let cut_accepted = system.sends_over_accepted_connections();
    match kind {
        BackendKind::Process => Ok(Box::new(ProcessBackend::new(ProcessOptions {
            run_dir,
            ip_base: options.ip_base,
            port,
            peer_port,
            cut_accepted,
            sends_from_own_address: system.sends_from_its_address(),
            use_iptables: true,
        })?)),
        BackendKind::Docker => {
            Ok(Box::new(DockerBackend::new(DockerOptions { run_dir, port, peer_port, cut_accepted }).await?))
        }
    }
}

/// Refuses faults and planted bugs that the system or backend cannot do.
fn refuse_unsupported(scenario: &Scenario, system: &dyn System, backend: &dyn Backend) -> Result<(), RunError> {
    let refused = |why: String| RunError::Refused(format!("{}: {why}", scenario.path.display()));
    let abilities = Abilities {
        system: system.name(),
        system_can: system.capabilities(),
        backend: backend.name(),
        backend_can: backend.capabilities(),
    };
    abilities.refuse_unsupported(&scenario.file).map_err(refused)?;
    for (i, fault) in scenario.file.faults.iter().enumerate() {
        let Some(site) = &fault.site else { continue };
        if fault.kind != FaultKind::CrashAt {
            return Err(refused(format!("faults[{i}]: `site` is for crash_at, not {}", fault.kind.name())));
        }
        let sites = system.crash_sites();
        if !sites.iter().any(|(name, _)| name == site) {
            let names: Vec<&str> = sites.iter().map(|(name, _)| *name).collect();
            return Err(refused(format!(
                "faults[{i}]: crash_at: the {} system has no crash site {site:?} (its sites: {})",
                system.name(),
                names.join(", ")
            )));
        }
    }
    for bug in &scenario.file.cluster.unsafe_bugs {
        system
            .check_bug(bug)
            .map_err(|e| refused(format!("cluster.unsafe_bugs: the {} system: {e}", system.name())))?;
    }
    Ok(())
}

pub async fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunReport, RunError> {
    let file = &scenario.file;
    let system = system_for(file.cluster.system, scenario, options)?;
    let backend = backend_for(file.backend, options, system.as_ref()).await?;
    refuse_unsupported(scenario, system.as_ref(), backend.as_ref())?;
    let spec = ClusterSpec {
        size: file.cluster.size,
        identity: format!("{}-{:x}-{:x}", file.name, std::process::id(), wall_ns() / 1_000_000),
        planted_bugs: file.cluster.unsafe_bugs.clone(),
    };
    let cluster = Cluster::start(system, backend, spec).await?;
    if cluster.wait_for_leader(Duration::from_secs(30)).await.is_none() {
        return Err(RunError::Cluster("no leader was elected within 30 s of starting the cluster".into()));
    }
    cluster.check_identity().await?;
    for id in cluster.members() {
        cluster.watch(id);
    }
    cluster.poll_status(STATUS_POLL);
    // The one place a kind of loadgen target becomes a driver.
    match cluster.system().target(&cluster.member_addresses()) {
        Target::Raft(endpoints) => {
            let (driver, read_back) = (RaftDriver::new(endpoints.clone()), RaftDriver::new(endpoints));
            drive_and_judge(scenario, options, cluster, driver, read_back).await
        }
        Target::Etcd(endpoints) => {
            let election_timeout = cluster.system().election_timeout();
            let connect = || async {
                let mut driver = EtcdDriver::connect(&endpoints, Duration::from_secs(5))
                    .await
                    .map_err(|e| RunError::Cluster(format!("the workload cannot reach etcd: {e}")))?;
                if let Some(timeout) = election_timeout {
                    driver.election_timeout = timeout;
                }
                Ok::<_, RunError>(driver)
            };
            let (driver, read_back) = (connect().await?, connect().await?);
            drive_and_judge(scenario, options, cluster, driver, read_back).await
        }
        other => Err(RunError::Cluster(format!("chaos cannot drive a {other:?} target yet"))),
    }
}

/// Runs the workload and the fault schedule, heals, checks and writes the
/// results. `read_back` reads linearizably, for the lost-writes check.
async fn drive_and_judge<D: Driver>(
    scenario: &Scenario,
    options: &RunOptions,
    cluster: Arc<Cluster>,
    driver: D,
    read_back: D,
) -> Result<RunReport, RunError> {
    let (file, workload) = (&scenario.file, &scenario.workload);
    let schedule = nemesis::schedule(file, workload.load.duration);
    // Faults, history and node events all count from here.
    let (t0, wall_t0) = (Instant::now(), wall_ns());
    let prefix = format!("s{:x}-", wall_t0 / 1_000_000);
    let load = async {
        let done = loadgen::run::run(workload, driver, file.seed, &prefix).await;
        progress("the workload ended");
        done
    };
    let faults = async {
        let done = nemesis::run(schedule, file.seed, &cluster, t0).await;
        progress("every fault ended");
        done
    };
    let ((mut recorder, rate), faults) = tokio::join!(load, faults);
    cluster.stop_polling();
    let faults = faults?;
    if let Some(why) = &recorder.setup_failed {
        return Err(RunError::Cluster(format!("the workload could not start: {why}")));
    }
    // Every fault healed itself, restarting what it killed: a member down
    // now went down by itself.
    cluster.check_all_running().await?;

    progress("healing every fault and restarting every member");
    cluster.heal().await?;
    for id in cluster.members() {
        let _ = cluster.resume(id).await;
        cluster.restart(id).await?;
    }
    progress("waiting (at most 60 s) for the members to converge");
    let finals = cluster.converge(Duration::from_secs(60)).await;
    if workload.kind() == WorkloadKind::Set {
        progress("reading the whole set");
        loadgen::run::read_set_at_end(workload, &read_back, &mut recorder, &prefix).await;
    }
    let (events, timeline) = cluster.stop_watching(wall_t0);

    // The checkers take one slice; the log goes back for the files below.
    let history_events = std::mem::take(&mut recorder.history).into_vec();
    let history = &history_events[..];
    progress(&format!("checking {} history events", history.len()));
    let wanted = |kind: CheckKind| file.checks.contains(&kind) && kind.judges().is_none_or(|k| k == workload.kind());
    let mut checks = Vec::new();
    if wanted(CheckKind::Linearizability) {
        checks.push(check_registers(history, Budget::default()));
        if history.iter().any(|e| matches!(e.f, Function::Append | Function::Read)) {
            checks.push(check_list_append(history));
        }
    }
    if wanted(CheckKind::Bank)
        && let Some(bank) = &workload.bank
    {
        let accounts = Some(bank.account_names().into_iter().collect());
        checks.push(check_bank(history, &Bank { total: Some(bank.total()), accounts }));
    }
    if wanted(CheckKind::Set) {
        checks.push(check_set(history));
    }
    if wanted(CheckKind::SplitBrain) {
        let mut split_brain = check_split_brain(&events);
        if let Some(every) = cluster.system().role_polls() {
            split_brain.reason += &format!(
                " (the {} members' roles were polled every {} ms: a leadership shorter than that may go unseen)",
                cluster.system().name(),
                every.as_millis()
            );
        }
        checks.push(split_brain);
    }
    if wanted(CheckKind::Convergence) {
        checks.push(check_convergence(&finals));
    }
    let mut lost = None;
    if wanted(CheckKind::LostWrites) {
        progress("reading back every key written");
        let (rpo, count) = rpo_check(&read_back, history).await;
        checks.push(rpo);
        lost = count;
    }
    let windows: Vec<FaultWindow> =
        faults.iter().map(|f| FaultWindow { name: f.kind.clone(), start_ns: f.start_ns, end_ns: f.end_ns }).collect();
    let recoveries = recovery_times(&windows, history, &events);

    let latency_us: BTreeMap<String, reports::Percentiles> = recorder
        .corrected
        .iter()
        .map(|(op, h)| (op.to_string(), percentiles(loadgen::record::Percentiles::of(h))))
        .collect();
    let measured = measured(&recorder, &rate, &recoveries, lost);
    let threshold_outcomes = thresholds::evaluate(&file.thresholds, &measured);
    if !threshold_outcomes.is_empty() {
        checks.push(threshold_check(&threshold_outcomes));
    }
    let report = Summary {
        schema_version: SCHEMA_VERSION,
        scenario: file.name.clone(),
        seed: file.seed,
        verdict: CheckResult::merge(&checks),
        system: cluster.system().name().into(),
        backend: cluster.backend_name().into(),
        cut_mechanism: format!("{:?}", cluster.cut_mechanism()),
        unsafe_bugs: file.cluster.unsafe_bugs.clone(),
        reproduce: Reproduce {
            scenario_path: scenario.path.display().to_string(),
            seed: file.seed,
            system: cluster.system().name().into(),
            backend: cluster.backend_name().into(),
            unsafe_bugs: file.cluster.unsafe_bugs.clone(),
        },
        checks,
        thresholds: threshold_outcomes,
        faults,
        recoveries,
        rate: reports::Rate {
            target_rate: rate.target_rate,
            achieved_rate: rate.achieved_rate,
            rate_error: rate.rate_error,
            measured_seconds: rate.measured_seconds,
        },
        outcomes: recorder.counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        latency_us,
        status_poll_ms: STATUS_POLL.as_millis() as u64,
    };
    recorder.history = history_events.into();
    write_results(options, &report, &recorder, &events, &timeline)?;
    let started = cluster.all_ids();
    drop(cluster);
    if !options.keep_data {
        for id in started {
            let data = options.out.join("nodes").join(format!("node-{id}"));
            if data.exists() {
                std::fs::remove_dir_all(&data)?;
            }
        }
    }
    Ok(report)
}

/// What the run is doing, for a person watching (stderr).
fn progress(what: &str) {
    eprintln!("... {what}");
}

/// loadgen's percentiles as the summary keeps them.
fn percentiles(p: loadgen::record::Percentiles) -> reports::Percentiles {
    reports::Percentiles {
        count: p.count,
        mean: p.mean,
        p50: p.p50,
        p90: p.p90,
        p99: p.p99,
        p999: p.p999,
        p9999: p.p9999,
        max: p.max,
    }
}

fn write_results(
    options: &RunOptions,
    report: &Summary,
    recorder: &loadgen::record::Recorder,
    events: &[crate::check::NodeEvent],
    timeline: &[reports::cluster::ClusterEvent],
) -> Result<(), RunError> {
    let out = &options.out;
    std::fs::create_dir_all(out)?;
    loadgen::output::write_recording(out, recorder)?;
    reports::write_lines(&out.join("events.jsonl"), events)?;
    reports::write_lines(&out.join("cluster.jsonl"), timeline)?;
    reports::write_summary(out, report)?;
    // Rendered from the summary as written, as `chaos report` would.
    reports::render(out)?;
    Ok(())
}

/// What thresholds can name, in base units (seconds, fractions, counts).
fn measured(
    recorder: &loadgen::record::Recorder,
    rate: &loadgen::run::RateReport,
    recoveries: &[Recovery],
    lost: Option<usize>,
) -> thresholds::Measured {
    let mut m = BTreeMap::new();
    if let Some(lost) = lost {
        m.insert("lost_writes", lost as f64);
    }
    let mut all = loadgen::record::histogram();
    for h in recorder.corrected.values() {
        let _ = all.add(h);
    }
    if !all.is_empty() {
        for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)] {
            m.insert(name, all.value_at_quantile(q) as f64 / 1e6);
        }
    }
    let total: u64 = recorder.counts.values().sum();
    if total > 0 {
        let ok = recorder.counts.get("ok").copied().unwrap_or(0);
        m.insert("error_rate", (total - ok) as f64 / total as f64);
    }
    m.insert("achieved_rate", rate.achieved_rate);
    thresholds::Measured { values: m, recoveries: recoveries.to_vec() }
}

fn threshold_check(outcomes: &[thresholds::Outcome]) -> CheckResult {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.passed == Some(false))
        .map(|o| format!("{} (was {})", o.expr, o.actual.as_deref().unwrap_or("?")))
        .collect();
    let missing: Vec<&str> = outcomes.iter().filter(|o| o.passed.is_none()).map(|o| o.expr.as_str()).collect();
    let (verdict, reason) = if !failed.is_empty() {
        (Verdict::Invalid, format!("failed: {}", failed.join("; ")))
    } else if !missing.is_empty() {
        (Verdict::Unknown, format!("no value measured for: {}", missing.join("; ")))
    } else {
        (Verdict::Valid, format!("all {} met", outcomes.len()))
    };
    CheckResult::new("thresholds", verdict, reason, vec![])
}

/// Reads every register the history wrote and looks for lost writes;
/// also returns how many keys lost one, when that could be told.
async fn rpo_check(read_back: &impl Driver, history: &[history::Event]) -> (CheckResult, Option<usize>) {
    let keys: std::collections::BTreeSet<&str> = history
        .iter()
        .filter(|e| matches!(e.f, Function::Put | Function::Delete | Function::Cas))
        .map(|e| e.key.as_str())
        .collect();
    let mut finals = BTreeMap::new();
    // A cluster that cannot serve reads must not hold the run for a
    // client deadline per key: the whole check has one.
    let deadline = Instant::now() + Duration::from_secs(60);
    for key in keys {
        let read = tokio::time::timeout_at(deadline, read_back.get(key, Consistency::ReadIndex)).await;
        match read.unwrap_or_else(|_| Outcome::Failed("60 s spent reading back".into())) {
            Outcome::Ok(value) => {
                finals.insert(key.to_string(), value);
            }
            Outcome::Failed(e) | Outcome::Unknown(e) => {
                let reason = format!("could not read the final value of {key:?}: {e}");
                return (CheckResult::new("lost-writes", Verdict::Unknown, reason, vec![]), None);
            }
        }
    }
    match lost_writes(history, &finals) {
        Ok(_) if finals.is_empty() => {
            // Bank and set runs write through transactions, judged by
            // their own checkers.
            let reason = "no register was written: nothing to read back".to_string();
            (CheckResult::new("lost-writes", Verdict::Valid, reason, vec![]), Some(0))
        }
        Ok(lost) if lost.is_empty() => {
            let reason = format!("0 of {} keys lost writes", finals.len());
            (CheckResult::new("lost-writes", Verdict::Valid, reason, vec![]), Some(0))
        }
        Ok(lost) => {
            let reason = format!("{} keys lost their last acknowledged write: {:?}", lost.len(), lost);
            (CheckResult::new("lost-writes", Verdict::Invalid, reason, vec![]), Some(lost.len()))
        }
        Err(e) => (CheckResult::new("lost-writes", Verdict::Unknown, e.to_string(), vec![]), None),
    }
}
