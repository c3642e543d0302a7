//! `chaos run`: start a cluster, drive the workload, inject the faults on
//! schedule (each confirmed), heal, wait for the nodes to converge, check
//! everything, and write the results.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use history::Function;
use loadgen::driver::RaftDriver;
use node::client::Client;
use node::proto::kv::Consistency;
use serde::Serialize;
use tokio::time::Instant;
use tokio_stream::StreamExt;

use crate::backend::{Backend, BackendError, CutMechanism, NodeId, ProcessBackend, ProcessOptions};
use crate::check::{
    Budget, CheckResult, FaultWindow, FinalState, Recovery, RoleEvent, Verdict, check_convergence, check_list_append,
    check_registers, check_split_brain, lost_writes, recovery_times,
};
use crate::scenario::{FaultKind, Scenario};

pub struct RunOptions {
    /// The `raft-node` binary.
    pub binary: PathBuf,
    pub out: PathBuf,
    /// Nodes get 127.0.0.(ip_base + id):port.
    pub ip_base: u8,
    pub port: u16,
    /// Keep the nodes' data directories after the run (logs are kept always).
    pub keep_data: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Cluster(String),
    #[error("writing results: {0}")]
    Io(#[from] std::io::Error),
}

/// One injected fault, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct InjectedFault {
    pub kind: String,
    pub target: Vec<NodeId>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// How the injection was shown to have taken effect.
    pub confirmed: String,
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub cut_mechanism: String,
    pub unsafe_bugs: Vec<String>,
    pub checks: Vec<CheckResult>,
    pub faults: Vec<InjectedFault>,
    pub recoveries: Vec<Recovery>,
    pub rate: loadgen::run::RateReport,
    pub outcomes: BTreeMap<String, u64>,
}

fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The nodes of a run: the backend, and which of them are members now
/// (membership changes add and remove some).
struct Cluster {
    backend: Mutex<ProcessBackend>,
    members: Mutex<Vec<NodeId>>,
    next_id: Mutex<NodeId>,
    client: Arc<Client>,
}

impl Cluster {
    fn members(&self) -> Vec<NodeId> {
        self.members.lock().expect("not poisoned").clone()
    }

    fn address(&self, id: NodeId) -> SocketAddr {
        self.backend.lock().expect("not poisoned").address(id)
    }

    async fn find_leader(&self) -> Option<NodeId> {
        for id in self.members() {
            let addr = self.address(id).to_string();
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(500), self.client.status(&addr)).await
                && s.role == "Leader"
            {
                return Some(id);
            }
        }
        None
    }

    /// The voters the leader reports, if it answers.
    async fn voters(&self, leader: NodeId) -> Option<Vec<NodeId>> {
        let s = self.client.status(&self.address(leader).to_string()).await.ok()?;
        Some(s.members.iter().filter(|m| m.voter).map(|m| m.id).collect())
    }
}

/// Polls `check` every 100 ms for at most `limit`.
async fn wait_until<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Whether a TCP connection from `from`'s IP to `to` opens within 500 ms.
async fn connects(from: SocketAddr, to: SocketAddr) -> bool {
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return false };
    if socket.bind(SocketAddr::new(from.ip(), 0)).is_err() {
        return false;
    }
    matches!(tokio::time::timeout(Duration::from_millis(500), socket.connect(to)).await, Ok(Ok(_)))
}

pub async fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunReport, RunError> {
    let file = &scenario.file;
    let ids: Vec<NodeId> = (1..=file.cluster.size).collect();
    let mut node_args = file.cluster.node_args.clone();
    for bug in &file.cluster.unsafe_bugs {
        node_args.extend(["--unsafe-inject-bug".to_string(), bug.clone()]);
    }
    let mut backend = ProcessBackend::new(ProcessOptions {
        binary: options.binary.clone(),
        run_dir: options.out.join("nodes"),
        ip_base: options.ip_base,
        port: options.port,
        node_args,
        admin_token: None,
        use_iptables: true,
    })?;
    let mechanism = backend.mechanism();
    let endpoints: Vec<String> = ids.iter().map(|&id| backend.address(id).to_string()).collect();
    for &id in &ids {
        backend.start(id, &ids, None)?;
    }
    let cluster = Arc::new(Cluster {
        backend: Mutex::new(backend),
        members: Mutex::new(ids.clone()),
        next_id: Mutex::new(file.cluster.size + 1),
        client: Arc::new(Client::new(endpoints.clone(), None)),
    });
    let client = cluster.client.clone();
    if !wait_until(Duration::from_secs(30), async || cluster.find_leader().await.is_some()).await {
        return Err(RunError::Cluster("no leader was elected within 30 s of starting the cluster".into()));
    }

    let wall_t0 = wall_ns();
    let t0 = Instant::now();
    let roles = Arc::new(Mutex::new(Vec::<RoleEvent>::new()));
    let watchers = Arc::new(Mutex::new(Vec::new()));
    for &id in &ids {
        watch_roles(&cluster, &roles, &watchers, id, wall_t0);
    }

    let workload = &scenario.workload;
    let driver = RaftDriver::new(endpoints.clone(), workload.consistency);
    let prefix = format!("s{:x}-", wall_t0 / 1_000_000);
    let load = loadgen::run::run(workload, driver, file.seed, &prefix);
    let nemesis = run_faults(scenario, &cluster, &roles, &watchers, t0, wall_t0);
    let ((recorder, rate), faults) = tokio::join!(load, nemesis);
    let faults = faults?;

    // Heal everything, bring every member back, and wait for them to agree.
    {
        let mut b = cluster.backend.lock().expect("not poisoned");
        b.heal()?;
        for id in cluster.members() {
            let _ = b.resume(id);
            b.restart(id)?;
        }
    }
    let finals = converge(&cluster).await;
    for w in watchers.lock().expect("not poisoned").drain(..) {
        w.abort();
    }
    let roles = roles.lock().expect("not poisoned").clone();

    let history = &recorder.history;
    let mut checks = vec![check_registers(history, Budget::default())];
    if history.iter().any(|e| matches!(e.f, Function::Append | Function::Read)) {
        checks.push(check_list_append(history));
    }
    checks.push(check_split_brain(&roles));
    checks.push(check_convergence(&finals));
    checks.push(rpo_check(&client, history).await);
    let windows: Vec<FaultWindow> =
        faults.iter().map(|f| FaultWindow { name: f.kind.clone(), start_ns: f.start_ns, end_ns: f.end_ns }).collect();
    let recoveries = recovery_times(&windows, history, &roles);
    let verdict = CheckResult::merge(&checks);

    std::fs::create_dir_all(&options.out)?;
    let mut h = std::io::BufWriter::new(std::fs::File::create(options.out.join("history.jsonl"))?);
    for e in history {
        history::write_event(&mut h, e)?;
    }
    let events: String = roles.iter().map(|r| serde_json::to_string(r).expect("serializes") + "\n").collect();
    std::fs::write(options.out.join("events.jsonl"), events)?;
    let report = RunReport {
        scenario: file.name.clone(),
        seed: file.seed,
        verdict,
        cut_mechanism: format!("{mechanism:?}"),
        unsafe_bugs: file.cluster.unsafe_bugs.clone(),
        checks,
        faults,
        recoveries,
        rate,
        outcomes: recorder.counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    };
    std::fs::write(options.out.join("summary.json"), serde_json::to_string_pretty(&report).expect("serializes"))?;
    std::fs::write(options.out.join("junit.xml"), junit(&report))?;
    let started = *cluster.next_id.lock().expect("not poisoned");
    drop(cluster);
    if !options.keep_data {
        for id in 1..started {
            let data = options.out.join("nodes").join(format!("node-{id}"));
            if data.exists() {
                std::fs::remove_dir_all(&data)?;
            }
        }
    }
    Ok(report)
}

/// Follows one node's role changes for the rest of the run.
fn watch_roles(
    cluster: &Arc<Cluster>,
    roles: &Arc<Mutex<Vec<RoleEvent>>>,
    watchers: &Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    node: NodeId,
    wall_t0: u64,
) {
    let (client, roles, addr) = (cluster.client.clone(), roles.clone(), cluster.address(node).to_string());
    let task = tokio::spawn(async move {
        loop {
            if let Ok(mut stream) = client.events(&addr).await {
                while let Some(Ok(e)) = stream.next().await {
                    let at = e.wall_ns.saturating_sub(wall_t0);
                    roles.lock().expect("not poisoned").push(RoleEvent {
                        node,
                        role: e.role,
                        term: e.term,
                        wall_ns: at,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    watchers.lock().expect("not poisoned").push(task);
}

/// Waits (at most 60 s) for every member to report the same applied index
/// and digest; returns what they last reported.
async fn converge(cluster: &Cluster) -> Vec<FinalState> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let members = cluster.members();
        let mut states = Vec::new();
        for &id in &members {
            let addr = cluster.address(id).to_string();
            if let Ok(Ok(d)) = tokio::time::timeout(Duration::from_secs(1), cluster.client.digest(&addr)).await {
                states.push(FinalState { node: id, applied: d.applied, digest: d.digest });
            }
        }
        let agreed = states.len() == members.len()
            && states.windows(2).all(|w| (w[0].applied, &w[0].digest) == (w[1].applied, &w[1].digest));
        if agreed || Instant::now() > deadline {
            return states;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Reads every register the history wrote and looks for lost writes.
async fn rpo_check(client: &Client, history: &[history::Event]) -> CheckResult {
    let keys: std::collections::BTreeSet<&str> = history
        .iter()
        .filter(|e| matches!(e.f, Function::Put | Function::Delete | Function::Cas))
        .map(|e| e.key.as_str())
        .collect();
    let mut finals = BTreeMap::new();
    for key in keys {
        match client.get(key, Consistency::ReadIndex).await {
            Ok(r) => {
                let v = r.value.map_or(serde_json::Value::Null, |b| {
                    serde_json::Value::String(String::from_utf8_lossy(&b).into_owned())
                });
                finals.insert(key.to_string(), v);
            }
            Err(e) => {
                let reason = format!("could not read the final value of {key:?}: {e}");
                return CheckResult::new("lost-writes", Verdict::Unknown, reason, vec![]);
            }
        }
    }
    match lost_writes(history, &finals) {
        Ok(lost) if lost.is_empty() => {
            CheckResult::new("lost-writes", Verdict::Valid, format!("0 of {} keys lost writes", finals.len()), vec![])
        }
        Ok(lost) => {
            let reason = format!("{} keys lost their last acknowledged write: {:?}", lost.len(), lost);
            CheckResult::new("lost-writes", Verdict::Invalid, reason, vec![])
        }
        Err(e) => CheckResult::new("lost-writes", Verdict::Unknown, e.to_string(), vec![]),
    }
}

async fn run_faults(
    scenario: &Scenario,
    cluster: &Arc<Cluster>,
    roles: &Arc<Mutex<Vec<RoleEvent>>>,
    watchers: &Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    t0: Instant,
    wall_t0: u64,
) -> Result<Vec<InjectedFault>, RunError> {
    let mut faults = scenario.file.faults.clone();
    faults.sort_by_key(|f| f.at);
    let mut done = Vec::new();
    for fault in faults {
        tokio::time::sleep_until(t0 + fault.at).await;
        let start_ns = t0.elapsed().as_nanos() as u64;
        let Some(leader) = cluster.find_leader().await else {
            let confirmed = "skipped: no leader to target".into();
            let kind = format!("{:?}", fault.kind);
            done.push(InjectedFault { kind, target: vec![], start_ns, end_ns: start_ns, confirmed });
            continue;
        };
        let (target, confirmed) = inject(fault.kind, fault.count, leader, cluster).await?;
        for &id in &target {
            if fault.kind == FaultKind::AddVoters {
                watch_roles(cluster, roles, watchers, id, wall_t0);
            }
        }
        if !fault.kind.is_permanent() {
            tokio::time::sleep(fault.lasts).await;
            heal(fault.kind, &target, cluster).await?;
        }
        let end_ns = t0.elapsed().as_nanos() as u64;
        done.push(InjectedFault { kind: format!("{:?}", fault.kind), target, start_ns, end_ns, confirmed });
    }
    Ok(done)
}

async fn heal(kind: FaultKind, target: &[NodeId], cluster: &Cluster) -> Result<(), RunError> {
    match kind {
        FaultKind::KillLeader | FaultKind::KillFollower | FaultKind::KillMinority | FaultKind::KillMajority => {
            let mut b = cluster.backend.lock().expect("not poisoned");
            for &id in target {
                b.restart(id)?;
            }
        }
        FaultKind::PauseLeader => cluster.backend.lock().expect("not poisoned").resume(target[0])?,
        FaultKind::SkewLeaderClock => {
            let addr = cluster.address(target[0]).to_string();
            let _ = cluster.client.set_faults(&addr, vec![], vec![], 0).await;
        }
        _ => cluster.backend.lock().expect("not poisoned").heal()?,
    }
    Ok(())
}

/// Injects one fault and shows it took effect.
async fn inject(
    kind: FaultKind,
    count: u64,
    leader: NodeId,
    cluster: &Cluster,
) -> Result<(Vec<NodeId>, String), RunError> {
    let members = cluster.members();
    let others: Vec<NodeId> = members.iter().copied().filter(|&id| id != leader).collect();
    let client = &cluster.client;
    let addr = |id: NodeId| cluster.address(id);
    match kind {
        FaultKind::KillLeader | FaultKind::KillFollower | FaultKind::KillMinority | FaultKind::KillMajority => {
            let victims: Vec<NodeId> = match kind {
                FaultKind::KillLeader => vec![leader],
                FaultKind::KillFollower => vec![others[0]],
                FaultKind::KillMinority => {
                    std::iter::once(leader).chain(others.iter().copied()).take((members.len() - 1) / 2).collect()
                }
                _ => std::iter::once(leader).chain(others.iter().copied()).take(members.len() / 2 + 1).collect(),
            };
            {
                let mut b = cluster.backend.lock().expect("not poisoned");
                for &v in &victims {
                    b.kill(v)?;
                }
            }
            let mut answering = Vec::new();
            for &v in &victims {
                if client.status(&addr(v).to_string()).await.is_ok() {
                    answering.push(v);
                }
            }
            let note = if answering.is_empty() {
                "processes gone; status refused".to_string()
            } else {
                format!("NOT confirmed: {answering:?} still answer")
            };
            Ok((victims, note))
        }
        FaultKind::PauseLeader => {
            cluster.backend.lock().expect("not poisoned").pause(leader)?;
            let answered =
                tokio::time::timeout(Duration::from_millis(500), client.status(&addr(leader).to_string())).await;
            let note = if answered.is_err() { "status timed out while paused" } else { "NOT confirmed: node answered" };
            Ok((vec![leader], note.into()))
        }
        FaultKind::SkewLeaderClock => {
            client
                .set_faults(&addr(leader).to_string(), vec![], vec![], 200_000)
                .await
                .map_err(|e| RunError::Cluster(format!("clock skew: {e}")))?;
            Ok((vec![leader], "fault hook accepted: +20% tick rate".into()))
        }
        FaultKind::TransferLeader => {
            let target = others[0];
            client.transfer_leader(target).await.map_err(|e| RunError::Cluster(format!("transfer: {e}")))?;
            let moved = wait_until(Duration::from_secs(10), async || cluster.find_leader().await == Some(target)).await;
            let note = if moved { "the target leads" } else { "NOT confirmed: the target did not take over" };
            Ok((vec![leader, target], note.into()))
        }
        FaultKind::AddVoters => {
            let mut added = Vec::new();
            for _ in 0..count {
                let id = {
                    let mut next = cluster.next_id.lock().expect("not poisoned");
                    *next += 1;
                    *next - 1
                };
                cluster.backend.lock().expect("not poisoned").start(id, &[], Some(leader))?;
                let caught_up = wait_until(Duration::from_secs(30), async || {
                    client.status(&addr(id).to_string()).await.is_ok_and(|s| s.applied > 0 && s.role == "Follower")
                })
                .await;
                if !caught_up {
                    return Err(RunError::Cluster(format!("new node {id} did not catch up within 30 s")));
                }
                client.promote(id).await.map_err(|e| RunError::Cluster(format!("promote {id}: {e}")))?;
                cluster.members.lock().expect("not poisoned").push(id);
                added.push(id);
            }
            let confirmed = match cluster.find_leader().await {
                Some(l) => cluster.voters(l).await.is_some_and(|v| added.iter().all(|a| v.contains(a))),
                None => false,
            };
            let note = if confirmed { "the leader lists them as voters" } else { "NOT confirmed: not all voters yet" };
            Ok((added, note.into()))
        }
        FaultKind::RemoveVoters => {
            let removed: Vec<NodeId> = others.iter().copied().take(count as usize).collect();
            for &id in &removed {
                client.remove(id).await.map_err(|e| RunError::Cluster(format!("remove {id}: {e}")))?;
                cluster.members.lock().expect("not poisoned").retain(|&m| m != id);
                cluster.backend.lock().expect("not poisoned").kill(id)?;
            }
            let confirmed = match cluster.find_leader().await {
                Some(l) => cluster.voters(l).await.is_some_and(|v| removed.iter().all(|r| !v.contains(r))),
                None => false,
            };
            let note = if confirmed { "gone from the leader's membership" } else { "NOT confirmed: still listed" };
            Ok((removed, note.into()))
        }
        FaultKind::IsolateLeader
        | FaultKind::LeaderOutbound
        | FaultKind::LeaderInbound
        | FaultKind::PartitionHalves => {
            let minority: Vec<NodeId> = if kind == FaultKind::PartitionHalves {
                std::iter::once(leader).chain(others.iter().copied().take(others.len().saturating_sub(1) / 2)).collect()
            } else {
                vec![leader]
            };
            let majority: Vec<NodeId> = others.iter().copied().filter(|o| !minority.contains(o)).collect();
            let mut pairs = Vec::new();
            for &a in &minority {
                for &b in &majority {
                    if kind != FaultKind::LeaderInbound {
                        pairs.push((a, b));
                    }
                    if kind != FaultKind::LeaderOutbound {
                        pairs.push((b, a));
                    }
                }
            }
            let mechanism = {
                let mut b = cluster.backend.lock().expect("not poisoned");
                for &(from, to) in &pairs {
                    b.cut(from, to)?;
                }
                b.mechanism()
            };
            if mechanism != CutMechanism::Iptables {
                return Ok((minority, "admin hooks set (no packet probe possible)".into()));
            }
            let (a, b) = (minority[0], majority[0]);
            let forward = connects(addr(a), addr(b)).await;
            let backward = connects(addr(b), addr(a)).await;
            let ok = forward == (kind == FaultKind::LeaderInbound) && backward == (kind == FaultKind::LeaderOutbound);
            let note = format!(
                "{}probe {a}->{b} {}, {b}->{a} {}",
                if ok { "" } else { "NOT confirmed: " },
                if forward { "open" } else { "cut" },
                if backward { "open" } else { "cut" }
            );
            let mut target = minority;
            target.extend(majority);
            Ok((target, note))
        }
    }
}

/// One test case per check, for CI systems.
fn junit(report: &RunReport) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let failures = report.checks.iter().filter(|c| c.verdict == Verdict::Invalid).count();
    let errors = report.checks.iter().filter(|c| c.verdict == Verdict::Unknown).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"chaos.{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">\n",
        esc(&report.scenario),
        report.checks.len()
    );
    for c in &report.checks {
        out += &format!("  <testcase classname=\"chaos.{}\" name=\"{}\">", esc(&report.scenario), esc(&c.checker));
        match c.verdict {
            Verdict::Valid => {}
            Verdict::Invalid => out += &format!("<failure message=\"{}\"/>", esc(&c.reason)),
            Verdict::Unknown => out += &format!("<error message=\"{}\"/>", esc(&c.reason)),
        }
        out += "</testcase>\n";
    }
    out + "</testsuite>\n"
}
