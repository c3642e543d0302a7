//! The members of a run as the runner and the faults see them: the system
//! that runs (how to launch and ask a member), the backend it runs on (how
//! to start, stop and cut one), which members there are now (membership
//! changes add and remove some), what each one's fault hooks are set to,
//! and what they report about themselves.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::time::Instant;

use crate::backend::{Backend, BackendError, CutMechanism, NodeId, Placement};
use reports::cluster::{ClusterChange, ClusterEvent};

use crate::check::{FinalState, NodeEvent};
use crate::runner::RunError;
use crate::system::{Bootstrap, FaultHooks, MemberSpec, MemberStatus, Role, System, SystemError};

pub fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// What every member of the run is launched with.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub size: u64,
    /// The run's own cluster identity.
    pub identity: String,
    pub planted_bugs: Vec<String>,
}

pub struct Cluster {
    system: Arc<dyn System>,
    /// A tokio mutex: backends await their actions (a container's start),
    /// holding it.
    backend: tokio::sync::Mutex<Box<dyn Backend>>,
    backend_name: &'static str,
    /// How the backend cuts links, if it can.
    packet_cuts: Option<CutMechanism>,
    spec: ClusterSpec,
    /// Where each member started so far runs.
    placements: Mutex<BTreeMap<NodeId, Placement>>,
    members: Mutex<Vec<NodeId>>,
    /// Ids handed out so far: the next new node gets `started + 1`.
    started: Mutex<NodeId>,
    /// What each member's fault hooks are to be set to; a member that
    /// restarts comes back with them cleared.
    hooks: Mutex<BTreeMap<NodeId, FaultHooks>>,
    /// What each running member's hooks were last set to (cleared, when
    /// missing).
    hooks_sent: Mutex<BTreeMap<NodeId, FaultHooks>>,
    /// Every member's event stream, merged; times on the wall clock.
    events: Arc<Mutex<Vec<NodeEvent>>>,
    /// What the runner saw and did to the members (`cluster.jsonl`); times
    /// on the wall clock until [`Cluster::stop_watching`].
    timeline: Arc<Mutex<Vec<ClusterEvent>>>,
    /// The status poll for the timeline, while the workload runs.
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
    watchers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn system_error(what: String) -> impl FnOnce(SystemError) -> RunError {
    move |e| RunError::Cluster(format!("{what}: {e}"))
}

impl Cluster {
    /// Starts `spec.size` members as the bootstrap members.
    pub async fn start(
        system: Arc<dyn System>,
        mut backend: Box<dyn Backend>,
        spec: ClusterSpec,
    ) -> Result<Arc<Cluster>, RunError> {
        let ids: Vec<NodeId> = (1..=spec.size).collect();
        let mut placements = BTreeMap::new();
        for &id in &ids {
            placements.insert(id, backend.place(id)?);
        }
        // Another run on these addresses would be driven, faulted and
        // judged in place of ours: refuse to start beside it.
        for p in placements.values() {
            let asked = tokio::time::timeout(Duration::from_millis(500), system.status(p.harness_address)).await;
            if let Ok(Ok(s)) = asked {
                return Err(RunError::Cluster(format!(
                    "{} already answers as node {} of cluster {:?}: another run uses these addresses \
                     (choose others: --ip-base, --port)",
                    p.harness_address, s.id, s.cluster
                )));
            }
        }
        let peers: Vec<(NodeId, SocketAddr)> = placements.iter().map(|(&id, p)| (id, p.peer_address)).collect();
        for &id in &ids {
            let launch = system.launch(&member_spec(&spec, id, &placements[&id], Bootstrap::Peers(peers.clone())));
            backend.start(id, &launch).await?;
        }
        Ok(Arc::new(Cluster {
            system,
            backend_name: backend.name(),
            packet_cuts: backend.cut_mechanism(),
            backend: tokio::sync::Mutex::new(backend),
            placements: Mutex::new(placements),
            members: Mutex::new(ids),
            started: Mutex::new(spec.size),
            spec,
            hooks: Mutex::new(BTreeMap::new()),
            hooks_sent: Mutex::new(BTreeMap::new()),
            events: Arc::new(Mutex::new(Vec::new())),
            timeline: Arc::new(Mutex::new(Vec::new())),
            poller: Mutex::new(None),
            watchers: Mutex::new(Vec::new()),
        }))
    }

    /// Every member answers as a member of this run's cluster.
    pub async fn check_identity(&self) -> Result<(), RunError> {
        for id in self.members() {
            let s = self.status(id).await.ok_or_else(|| RunError::Cluster(format!("node {id} does not answer")))?;
            if s.cluster != self.spec.identity {
                return Err(RunError::Cluster(format!(
                    "{} answers as a member of cluster {:?}, not this run's {:?}",
                    self.address(id),
                    s.cluster,
                    self.spec.identity
                )));
            }
        }
        Ok(())
    }

    /// Notes `change` on the cluster timeline, now.
    fn record(&self, change: ClusterChange) {
        self.timeline.lock().expect("not poisoned").push(ClusterEvent { at_ns: wall_ns(), change });
    }

    pub fn system(&self) -> &dyn System {
        self.system.as_ref()
    }

    pub async fn backend(&self) -> tokio::sync::MutexGuard<'_, Box<dyn Backend>> {
        self.backend.lock().await
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend_name
    }

    /// How partitions are made: by the backend when it can cut packets,
    /// else by the members' own fault hooks.
    pub fn cut_mechanism(&self) -> CutMechanism {
        self.packet_cuts.unwrap_or(CutMechanism::AdminHooks)
    }

    pub fn members(&self) -> Vec<NodeId> {
        self.members.lock().expect("not poisoned").clone()
    }

    pub fn add_member(&self, id: NodeId) {
        self.members.lock().expect("not poisoned").push(id);
    }

    pub fn remove_member(&self, id: NodeId) {
        self.members.lock().expect("not poisoned").retain(|&m| m != id);
    }

    /// Every id ever started.
    pub fn all_ids(&self) -> Vec<NodeId> {
        (1..=*self.started.lock().expect("not poisoned")).collect()
    }

    fn placement(&self, id: NodeId) -> Option<Placement> {
        self.placements.lock().expect("not poisoned").get(&id).cloned()
    }

    /// Where the harness reaches each member placed so far.
    fn placed_addresses(&self) -> Vec<(NodeId, SocketAddr)> {
        let placements = self.placements.lock().expect("not poisoned");
        placements.iter().map(|(&id, p)| (id, p.harness_address)).collect()
    }

    /// Where the harness reaches `id`.
    pub fn address(&self, id: NodeId) -> SocketAddr {
        self.placement(id).expect("only started members are asked about").harness_address
    }

    /// The harness addresses of the current members.
    pub fn member_addresses(&self) -> Vec<SocketAddr> {
        self.members().into_iter().map(|id| self.address(id)).collect()
    }

    /// A member's status, if it answers within 500 ms.
    pub async fn status(&self, id: NodeId) -> Option<MemberStatus> {
        let asked = tokio::time::timeout(Duration::from_millis(500), self.system.status(self.address(id))).await;
        asked.ok()?.ok()
    }

    pub async fn find_leader(&self) -> Option<NodeId> {
        for id in self.members() {
            if self.status(id).await.is_some_and(|s| s.role == Role::Leader) {
                return Some(id);
            }
        }
        None
    }

    /// The leader, once one answers within `limit`.
    pub async fn wait_for_leader(&self, limit: Duration) -> Option<NodeId> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(leader) = self.find_leader().await {
                return Some(leader);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The voters the leader reports, if it answers.
    pub async fn voters(&self, leader: NodeId) -> Option<Vec<NodeId>> {
        let s = self.status(leader).await?;
        Some(s.members.iter().filter(|(_, voter)| *voter).map(|(id, _)| *id).collect())
    }

    /// Starts a new member that joins through `via` (a member), as a
    /// learner; returns its id. It is not a member until promoted.
    pub async fn join(&self, via: NodeId) -> Result<NodeId, RunError> {
        let id = {
            let mut started = self.started.lock().expect("not poisoned");
            *started += 1;
            *started
        };
        let through = self.placement(via).expect("a started member").peer_address;
        let members = self.members().into_iter().map(|m| (m, self.placement(m).expect("started").peer_address));
        let bootstrap = Bootstrap::Join { through, members: members.collect() };
        let mut backend = self.backend().await;
        let placement = backend.place(id)?;
        let spec = member_spec(&self.spec, id, &placement, bootstrap);
        self.system.admit(self.member_addresses(), &spec).await.map_err(system_error(format!("admit {id}")))?;
        let launch = self.system.launch(&spec);
        self.placements.lock().expect("not poisoned").insert(id, placement);
        backend.start(id, &launch).await?;
        drop(backend);
        self.record(ClusterChange::Joined { node: id });
        self.watch(id);
        Ok(id)
    }

    pub async fn promote(&self, id: NodeId) -> Result<(), RunError> {
        self.system.promote(self.member_addresses(), id).await.map_err(system_error(format!("promote {id}")))
    }

    /// Removes `id` from the membership and retires it.
    pub async fn remove(&self, id: NodeId) -> Result<(), RunError> {
        self.system.remove(self.member_addresses(), id).await.map_err(system_error(format!("remove {id}")))?;
        self.remove_member(id);
        self.record(ClusterChange::Removed { node: id });
        self.backend().await.stop(id).await?;
        Ok(())
    }

    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), RunError> {
        let members = self.member_addresses();
        self.system.transfer_leader(members, to).await.map_err(system_error(format!("transfer to {to}")))
    }

    pub async fn kill(&self, ids: &[NodeId]) -> Result<(), BackendError> {
        self.backend().await.kill(ids).await?;
        ids.iter().for_each(|&node| self.record(ClusterChange::Killed { node }));
        Ok(())
    }

    /// Starts a member again on its data; its fault hooks start cleared.
    pub async fn restart(&self, id: NodeId) -> Result<(), BackendError> {
        let mut backend = self.backend().await;
        let was_down = !backend.is_running(id).await;
        if was_down {
            self.hooks.lock().expect("not poisoned").remove(&id);
            self.hooks_sent.lock().expect("not poisoned").remove(&id);
        }
        backend.restart(id).await?;
        if was_down {
            self.record(ClusterChange::Restarted { node: id });
        }
        Ok(())
    }

    /// Whether `id` is down (exited, or stopped) within `limit`.
    pub async fn down_within(&self, id: NodeId, limit: Duration) -> bool {
        wait_until(limit, || async move { !self.backend().await.is_running(id).await }).await
    }

    /// The newest non-empty line of `id`'s log that holds `needle`.
    pub async fn log_line_with(&self, id: NodeId, needle: &str) -> Option<String> {
        let path = self.backend().await.log_path(id);
        newest_log_line(&path, needle)
    }

    /// An error naming every member that is down although every fault has
    /// healed (so it exited by itself), with its log's last line: a harness
    /// problem, never a verdict about the cluster.
    pub async fn check_all_running(&self) -> Result<(), RunError> {
        let mut backend = self.backend().await;
        let mut down = Vec::new();
        for id in self.members() {
            if !backend.is_running(id).await {
                let last = newest_log_line(&backend.log_path(id), "").unwrap_or_else(|| "(empty log)".into());
                down.push(format!("node {id} exited though no fault stopped it; its last log line: {last}"));
            }
        }
        if down.is_empty() { Ok(()) } else { Err(RunError::Cluster(down.join("; "))) }
    }

    pub async fn pause(&self, id: NodeId) -> Result<(), BackendError> {
        self.backend().await.pause(id).await?;
        self.record(ClusterChange::Paused { node: id });
        Ok(())
    }

    pub async fn resume(&self, id: NodeId) -> Result<(), BackendError> {
        self.backend().await.resume(id).await?;
        self.record(ClusterChange::Resumed { node: id });
        Ok(())
    }

    /// A power cut of these members at once: all killed, then each one's
    /// data loses what it had not synced. Says what each lost.
    pub async fn power_loss(&self, ids: &[NodeId]) -> Result<Vec<String>, RunError> {
        self.kill(ids).await?;
        let mut lost = Vec::new();
        for &id in ids {
            let placement = self.placement(id).expect("a started member");
            let dir = placement
                .host_data_dir
                .ok_or_else(|| RunError::Cluster(format!("node {id}: the backend cannot reach its data directory")))?;
            let bytes = self.system.drop_unsynced(&dir).map_err(system_error(format!("node {id}: power cut")))?;
            lost.push(format!("node {id} lost {bytes} unsynced bytes"));
        }
        Ok(lost)
    }

    /// Kills `id`, does `what` to its data directory (on the host), and
    /// starts it again with its original arguments; returns what `what`
    /// says it did.
    pub async fn while_down<F>(&self, id: NodeId, what: F) -> Result<String, RunError>
    where
        F: FnOnce(&std::path::Path) -> Result<String, RunError>,
    {
        self.kill(&[id]).await?;
        let placement = self.placement(id).expect("a started member");
        let dir = placement
            .host_data_dir
            .ok_or_else(|| RunError::Cluster(format!("node {id}: the backend cannot reach its data directory")))?;
        let done = what(&dir)?;
        self.restart(id).await?;
        Ok(done)
    }

    /// Drops what `from` sends to `to`, one direction only.
    pub async fn cut(&self, from: NodeId, to: NodeId) -> Result<(), RunError> {
        if self.packet_cuts.is_some() {
            self.backend().await.cut(from, to).await?;
        } else {
            self.hooks.lock().expect("not poisoned").entry(from).or_default().drop_to.insert(to);
            self.set_hooks(from).await?;
        }
        self.record(ClusterChange::Cut { from, to });
        Ok(())
    }

    pub async fn uncut(&self, from: NodeId, to: NodeId) -> Result<(), RunError> {
        if self.packet_cuts.is_some() {
            self.backend().await.uncut(from, to).await?;
        } else {
            self.hooks.lock().expect("not poisoned").entry(from).or_default().drop_to.remove(&to);
            self.set_hooks(from).await?;
        }
        self.record(ClusterChange::Uncut { from, to });
        Ok(())
    }

    /// Removes every cut, whichever way it was made.
    pub async fn heal(&self) -> Result<(), RunError> {
        self.backend().await.heal().await?;
        let cut: Vec<NodeId> = {
            let mut hooks = self.hooks.lock().expect("not poisoned");
            let cut = hooks.iter().filter(|(_, h)| !h.drop_to.is_empty()).map(|(id, _)| *id).collect();
            hooks.values_mut().for_each(|h| h.drop_to.clear());
            cut
        };
        for id in cut {
            self.set_hooks(id).await?;
        }
        self.record(ClusterChange::Healed);
        Ok(())
    }

    /// Runs the member's Raft clock `ppm` parts per million fast (negative:
    /// slow); 0 restores it.
    pub async fn skew_clock(&self, id: NodeId, ppm: i64) -> Result<(), RunError> {
        self.hooks.lock().expect("not poisoned").entry(id).or_default().clock_skew_ppm = ppm;
        self.set_hooks(id).await
    }

    /// Delays each of the member's fsyncs by `delay` (zero restores it).
    pub async fn slow_disk(&self, id: NodeId, delay: Duration) -> Result<(), RunError> {
        self.hooks.lock().expect("not poisoned").entry(id).or_default().disk_delay_ms = delay.as_millis() as u64;
        self.set_hooks(id).await
    }

    /// Sends a member its hooks as recorded, unless it has them already
    /// (a member that restarted has them cleared). A member that is down
    /// has nothing to send to, and comes back with its hooks cleared anyway.
    async fn set_hooks(&self, id: NodeId) -> Result<(), RunError> {
        let hooks = self.hooks.lock().expect("not poisoned").get(&id).cloned().unwrap_or_default();
        if self.hooks_sent.lock().expect("not poisoned").get(&id).cloned().unwrap_or_default() == hooks {
            return Ok(());
        }
        // A member restarted a moment ago may not listen yet: a few tries.
        let mut tries = 0;
        loop {
            if !self.backend().await.is_running(id).await {
                return Ok(());
            }
            match self.system.set_fault_hooks(self.address(id), &hooks).await {
                Ok(()) => break,
                Err(e) if tries == 50 => return Err(system_error(format!("node {id}: set fault hooks"))(e)),
                Err(_) => tries += 1,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.hooks_sent.lock().expect("not poisoned").insert(id, hooks);
        Ok(())
    }

    /// Follows one member's events for the rest of the run, reconnecting
    /// after it restarts.
    pub fn watch(&self, node: NodeId) {
        let (system, events, address) = (self.system.clone(), self.events.clone(), self.address(node));
        let task = tokio::spawn(async move {
            loop {
                if let Ok(mut stream) = system.events(address).await {
                    while let Some(e) = stream.next().await {
                        let event = NodeEvent { node, kind: e.kind, role: e.role, term: e.term, wall_ns: e.wall_ns };
                        events.lock().expect("not poisoned").push(event);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        self.watchers.lock().expect("not poisoned").push(task);
    }

    /// Asks every member started so far for its status every `every`, for
    /// the cluster timeline, until [`Cluster::stop_polling`]; a member that
    /// does not answer within `every` is noted as not answering.
    pub fn poll_status(self: &Arc<Self>, every: Duration) {
        // Never a strong reference across an await: a run dropped (Ctrl-C,
        // SIGTERM) must drop its cluster, and with it the backend that
        // removes the members, at once.
        let cluster = Arc::downgrade(self);
        let (system, timeline) = (self.system.clone(), self.timeline.clone());
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // Placed, not merely numbered: a joining member gets its id before its place.
                let Some(placed) = cluster.upgrade().map(|c| c.placed_addresses()) else { return };
                let ask = |(node, address): (NodeId, SocketAddr)| {
                    let system = &system;
                    async move {
                        match tokio::time::timeout(every, system.status(address)).await {
                            Ok(Ok(s)) => ClusterChange::Status {
                                node,
                                role: format!("{:?}", s.role).to_lowercase(),
                                term: s.term,
                                leader: s.leader,
                                members: s.members.iter().map(|(id, _)| *id).collect(),
                            },
                            _ => ClusterChange::NoAnswer { node },
                        }
                    }
                };
                let answers = futures_util::future::join_all(placed.into_iter().map(ask)).await;
                let at_ns = wall_ns();
                let mut timeline = timeline.lock().expect("not poisoned");
                timeline.extend(answers.into_iter().map(|change| ClusterEvent { at_ns, change }));
            }
        });
        if let Some(earlier) = self.poller.lock().expect("not poisoned").replace(task) {
            earlier.abort();
        }
    }

    /// Stops the status poll (the workload is over: what the final heal
    /// and convergence do is not part of the run's picture).
    pub fn stop_polling(&self) {
        if let Some(poller) = self.poller.lock().expect("not poisoned").take() {
            poller.abort();
        }
    }

    /// Stops watching and polling; returns everything the members reported
    /// and the cluster timeline, with times from `wall_origin` (earlier
    /// ones at 0).
    pub fn stop_watching(&self, wall_origin: u64) -> (Vec<NodeEvent>, Vec<ClusterEvent>) {
        self.stop_polling();
        for w in self.watchers.lock().expect("not poisoned").drain(..) {
            w.abort();
        }
        let mut events = self.events.lock().expect("not poisoned").clone();
        for e in &mut events {
            e.wall_ns = e.wall_ns.saturating_sub(wall_origin);
        }
        let mut timeline = self.timeline.lock().expect("not poisoned").clone();
        for e in &mut timeline {
            e.at_ns = e.at_ns.saturating_sub(wall_origin);
        }
        (events, timeline)
    }

    /// Waits (at most `limit`) for every member to report the same applied
    /// index and digest; returns what they last reported.
    pub async fn converge(&self, limit: Duration) -> Vec<FinalState> {
        let deadline = Instant::now() + limit;
        loop {
            let members = self.members();
            let mut states = Vec::new();
            for &id in &members {
                let asked = tokio::time::timeout(Duration::from_secs(1), self.system.digest(self.address(id))).await;
                if let Ok(Ok(d)) = asked {
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
}

fn member_spec(spec: &ClusterSpec, id: NodeId, placement: &Placement, bootstrap: Bootstrap) -> MemberSpec {
    MemberSpec {
        id,
        address: placement.peer_address,
        client_address: placement.client_address,
        bootstrap,
        data_dir: placement.data_dir.clone(),
        cluster: spec.identity.clone(),
        planted_bugs: spec.planted_bugs.clone(),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_polling();
        for w in self.watchers.get_mut().expect("not poisoned").drain(..) {
            w.abort();
        }
    }
}

/// Polls `check` every 100 ms for at most `limit`. (A closure returning a
/// future rather than an async closure: futures that hold one of those
/// are not `Send` for every lifetime, which boxed fault futures need.)
/// The newest non-empty line of the log at `path` that holds `needle`.
fn newest_log_line(path: &std::path::Path, needle: &str) -> Option<String> {
    let log = std::fs::read_to_string(path).ok()?;
    log.lines().rev().find(|l| !l.trim().is_empty() && l.contains(needle)).map(str::to_string)
}

pub async fn wait_until<F: FnMut() -> Fut, Fut: Future<Output = bool>>(limit: Duration, mut check: F) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
