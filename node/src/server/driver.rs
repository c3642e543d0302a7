//! The thread that owns the Raft core and the state machine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft::{ConfChange, Entry, Payload, Raft, ReadMode, ReadPath, Role};
use tokio::sync::{broadcast, oneshot};
use tracing::{debug, error, info, warn};

use crate::kv::{KvState, WriteOutcome, encode_command};
use crate::proto::admin::{self as apb, NodeEvent};
use crate::proto::kv::{Consistency, MemberStarted, PeerAddress, Session, command::Op};
use crate::server::local_reads::{LeaseReads, LocalReads, PublishedLease};
use crate::server::peers::Peers;
use crate::server::writer::{DiskWork, WriteJob};

/// What a client or peer asks of the driver.
pub enum Input {
    Peer(raft::Message),
    Write {
        session: Session,
        op: Op,
        reply: oneshot::Sender<Result<WriteOutcome, KvError>>,
    },
    Read {
        key: String,
        list: bool,
        consistency: Consistency,
        reply: oneshot::Sender<Result<ReadAnswer, KvError>>,
    },
    Change {
        change: ChangeRequest,
        reply: oneshot::Sender<Result<u64, KvError>>,
    },
    Status {
        reply: oneshot::Sender<apb::StatusResponse>,
    },
    Digest {
        reply: oneshot::Sender<apb::DigestResponse>,
    },
    /// The disk thread made every write up to this Ready number durable.
    Persisted(u64),
    /// The disk thread failed: the node must fence itself off.
    DiskFailed(String),
    ClockSkew(i64),
    /// The peers do not know this node from before (see rejoin_guard).
    BootstrapConfirmed,
}

pub enum ChangeRequest {
    AddLearner { id: u64, address: String },
    Promote(u64),
    Remove(u64),
    Transfer(u64),
    ResetPeers(Vec<u64>),
}

#[derive(Debug)]
pub enum ReadAnswer {
    Register { value: Option<Bytes>, index: u64 },
    List { values: Vec<Bytes>, index: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("not the leader")]
    NotLeader { leader_address: Option<String> },
    /// Retryable: no leader, backpressure, a dropped proposal.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The write may or may not have applied (leadership changed under it).
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// How the services reach the driver.
#[derive(Clone)]
pub struct NodeHandle {
    pub inputs: Sender<Input>,
    pub events: broadcast::Sender<NodeEvent>,
}

struct PendingRead {
    key: String,
    list: bool,
    index: Option<u64>,
    /// Confirmed by the lease alone, with no round of messages.
    lease: bool,
    reply: oneshot::Sender<Result<ReadAnswer, KvError>>,
    since: Instant,
}

/// Reads not answered in this long are failed, so that a read whose
/// confirmation was lost does not wait forever.
const READ_GIVE_UP: Duration = Duration::from_secs(10);

/// What a driver is made of, named, since most of it is the same type.
pub struct DriverParts {
    pub raft: Raft,
    /// The state machine, shared with the services for local reads.
    pub local: std::sync::Arc<LocalReads>,
    pub peers: Peers,
    pub writer: Sender<DiskWork>,
    pub inputs: Receiver<Input>,
    pub events: broadcast::Sender<NodeEvent>,
    pub tick: Duration,
    pub snapshot_every: u64,
    pub seed_addresses: BTreeMap<u64, String>,
    pub fsync: bool,
    pub metrics: std::sync::Arc<crate::server::metrics::Metrics>,
    pub cluster: String,
    /// False while a bootstrap on an empty directory awaits its peers' word.
    pub confirmed: bool,
}

pub struct Driver {
    pub raft: Raft,
    local: std::sync::Arc<LocalReads>,
    /// What `local` holds as the lease, so it is locked only on a change.
    published: Option<PublishedLease>,
    /// When the core's next tick is due: leases end on this schedule.
    next_tick: Instant,
    pub peers: Peers,
    pub writer: Sender<DiskWork>,
    pub inputs: Receiver<Input>,
    pub events: broadcast::Sender<NodeEvent>,
    pub tick: Duration,
    pub snapshot_every: u64,
    /// Addresses given on the command line, until the log records them.
    pub seed_addresses: BTreeMap<u64, String>,
    pub fsync: bool,
    /// The cluster name of the data directory, shown in status so a harness
    /// can tell its own cluster from another on the same addresses.
    pub cluster: String,
    confirmed: bool,
    /// Why the disk failed, once it has: the node is fenced off for good.
    disk_failed: Option<String>,
    pub started: Instant,
    pub skew_ppm: i64,
    pub metrics: std::sync::Arc<crate::server::metrics::Metrics>,
    pending_writes: HashMap<u64, (u64, oneshot::Sender<Result<WriteOutcome, KvError>>)>,
    pending_changes: HashMap<u64, (u64, oneshot::Sender<Result<u64, KvError>>)>,
    pending_reads: HashMap<u64, PendingRead>,
    next_ctx: u64,
    /// Ready numbers handed to the disk thread, and the last it made durable.
    last_written: u64,
    last_persisted: u64,
    /// Lease reads the driver itself served since the last `lease_read`
    /// event: one event per tick at most (and one for those served in
    /// `local`), carrying the latest, so a watcher learns when each leader
    /// last relied on its lease without an event per read.
    lease_reads: Option<LeaseReads>,
    /// MemberStarted proposals made in this leadership, not yet applied.
    started_proposed: BTreeSet<u64>,
    lost_commits_reported: bool,
}

impl Driver {
    pub fn new(parts: DriverParts) -> Driver {
        let DriverParts {
            raft,
            local,
            peers,
            writer,
            inputs,
            events,
            tick,
            snapshot_every,
            seed_addresses,
            fsync,
            metrics,
            cluster,
            confirmed,
        } = parts;
        Driver {
            raft,
            local,
            published: None,
            next_tick: Instant::now(),
            peers,
            writer,
            inputs,
            events,
            tick,
            snapshot_every,
            seed_addresses,
            fsync,
            cluster,
            confirmed,
            disk_failed: None,
            started: Instant::now(),
            skew_ppm: 0,
            metrics,
            pending_writes: HashMap::new(),
            pending_changes: HashMap::new(),
            pending_reads: HashMap::new(),
            next_ctx: 1,
            last_written: 0,
            last_persisted: 0,
            lease_reads: None,
            started_proposed: BTreeSet::new(),
            lost_commits_reported: false,
        }
    }

    fn tick_interval(&self) -> Duration {
        let scale = 1.0 + self.skew_ppm as f64 / 1e6;
        self.tick.div_f64(scale.max(0.01))
    }

    /// Runs until every input sender is gone or the disk fails.
    pub fn run(mut self) {
        self.connect_members();
        self.next_tick = Instant::now() + self.tick_interval();
        loop {
            let wait = self.next_tick.saturating_duration_since(Instant::now());
            let received = self.inputs.recv_timeout(wait);
            // The clock first: after the process was frozen (SIGSTOP, a
            // stalled VM) the core must see the time that passed before it
            // answers a read from a lease that may have run out meanwhile.
            self.catch_up_ticks();
            match received {
                Ok(input) => {
                    if !self.handle(input) {
                        return;
                    }
                    // Take whatever else queued up, so that one Ready covers
                    // many proposals: one Append, one disk write (batching).
                    while let Ok(input) = self.inputs.try_recv() {
                        if !self.handle(input) {
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.process_ready();
        }
    }

    /// Ticks once for every tick period that has passed, however many.
    fn catch_up_ticks(&mut self) {
        let now = Instant::now();
        if self.next_tick > now {
            return;
        }
        while self.next_tick <= now {
            if self.takes_part() {
                self.raft.tick();
            }
            self.next_tick += self.tick_interval();
        }
        self.expire_reads();
        self.sample_inflight();
        self.record_started_members();
        self.report_lost_commits();
        self.flush_lease_reads();
    }

    fn leader_address(&self) -> Option<String> {
        let leader = self.raft.leader();
        self.address_of(leader)
    }

    fn address_of(&self, id: u64) -> Option<String> {
        self.local.state().kv.peers().get(&id).or_else(|| self.seed_addresses.get(&id)).cloned()
    }

    fn not_leader(&self) -> KvError {
        KvError::NotLeader { leader_address: self.leader_address() }
    }

    fn propose_error(&self, e: raft::ProposeError) -> KvError {
        match e {
            raft::ProposeError::NotLeader { .. } => self.not_leader(),
            raft::ProposeError::InvalidConfChange(why) => KvError::Invalid(why),
            other => KvError::Unavailable(other.to_string()),
        }
    }

    /// Whether the node takes part in the cluster: not while a bootstrap on
    /// an empty directory awaits its peers' word (no votes, no
    /// acknowledgements), nor after its disk failed.
    fn takes_part(&self) -> bool {
        self.confirmed && self.disk_failed.is_none()
    }

    /// Returns false when the node must stop.
    fn handle(&mut self, input: Input) -> bool {
        if let Some(why) = self.disk_failed.clone() {
            let refusal = || KvError::Unavailable(format!("this node's disk failed ({why}); it serves nothing"));
            match input {
                Input::Write { reply, .. } => {
                    let _ = reply.send(Err(refusal()));
                    return true;
                }
                Input::Read { reply, .. } => {
                    let _ = reply.send(Err(refusal()));
                    return true;
                }
                Input::Change { reply, .. } => {
                    let _ = reply.send(Err(refusal()));
                    return true;
                }
                _ => {}
            }
        }
        match input {
            Input::Peer(m) if self.takes_part() => self.raft.step(m),
            Input::Peer(_) => {}
            Input::Write { session, op, reply } => match self.raft.propose(encode_command(session, op)) {
                Ok(index) => {
                    self.metrics.proposals.fetch_add(1, Relaxed);
                    self.pending_writes.insert(index, (self.raft.term(), reply));
                }
                Err(e) => {
                    self.metrics.proposals_failed.fetch_add(1, Relaxed);
                    let _ = reply.send(Err(self.propose_error(e)));
                }
            },
            Input::Read { key, list, consistency, reply } => self.start_read(key, list, consistency, reply),
            Input::Change { change, reply } => self.change(change, reply),
            Input::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Input::Digest { reply } => {
                let state = self.local.state();
                let digest = format!("{:016x}", state.kv.digest());
                let _ = reply.send(apb::DigestResponse { applied: state.kv.applied(), digest });
            }
            Input::Persisted(number) => {
                self.last_persisted = number;
                self.raft.on_persisted(number);
            }
            Input::DiskFailed(why) => self.fence_after_disk_failure(why),
            Input::ClockSkew(ppm) => {
                warn!(ppm, "lease clock skew set by a test hook");
                self.skew_ppm = ppm;
            }
            Input::BootstrapConfirmed => self.confirmed = true,
        }
        true
    }

    fn start_read(
        &mut self,
        key: String,
        list: bool,
        consistency: Consistency,
        reply: oneshot::Sender<Result<ReadAnswer, KvError>>,
    ) {
        self.metrics.reads[consistency as usize].fetch_add(1, Relaxed);
        let mode = match consistency {
            Consistency::Stale => {
                let _ = reply.send(self.answer(&key, list));
                return;
            }
            Consistency::Lease => ReadMode::Lease,
            Consistency::ReadIndex | Consistency::Follower => ReadMode::ReadIndex,
        };
        if consistency != Consistency::Follower && self.raft.role() != Role::Leader {
            let _ = reply.send(Err(self.not_leader()));
            return;
        }
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        match self.raft.read(ctx, mode) {
            Ok(()) => {
                let read = PendingRead { key, list, index: None, lease: false, reply, since: Instant::now() };
                self.pending_reads.insert(ctx, read);
            }
            Err(e) => {
                let _ = reply.send(Err(KvError::Unavailable(e.to_string())));
            }
        }
    }

    fn answer(&self, key: &str, list: bool) -> Result<ReadAnswer, KvError> {
        crate::server::local_reads::answer(&self.local.state().kv, key, list)
    }

    fn serve_reads(&mut self) {
        let applied = self.applied();
        let ready: Vec<u64> =
            self.pending_reads.iter().filter(|(_, r)| r.index.is_some_and(|i| i <= applied)).map(|(c, _)| *c).collect();
        for ctx in ready {
            let r = self.pending_reads.remove(&ctx).expect("listed above");
            let answer = self.answer(&r.key, r.list);
            if r.lease && answer.is_ok() {
                self.note_lease_read();
            }
            let _ = r.reply.send(answer);
        }
    }

    fn note_lease_read(&mut self) {
        let (term, now) = (self.raft.term(), wall_ns());
        match &mut self.lease_reads {
            Some(reads) if reads.term == term => {
                reads.last_wall_ns = now;
                reads.count += 1;
            }
            _ => {
                self.flush_lease_reads();
                self.lease_reads = Some(LeaseReads { term, last_wall_ns: now, count: 1 });
            }
        }
    }

    fn flush_lease_reads(&mut self) {
        let served_here = self.lease_reads.take();
        for reads in served_here.into_iter().chain(self.local.take_lease_reads()) {
            self.send_lease_reads(reads);
        }
    }

    fn send_lease_reads(&self, reads: LeaseReads) {
        let _ = self.events.send(NodeEvent {
            node: self.raft.id(),
            kind: "lease_read".into(),
            role: format!("{:?}", self.raft.role()),
            term: reads.term,
            leader: self.raft.leader(),
            wall_ns: reads.last_wall_ns,
            monotonic_ns: self.started.elapsed().as_nanos() as u64,
            lease_until_ns: self.lease_until_wall_ns(),
            detail: format!("{} lease reads served in term {}, the last at wall_ns", reads.count, reads.term),
        });
    }

    /// When the current lease runs out, on the wall clock (0: no lease).
    fn lease_until_wall_ns(&self) -> u64 {
        match self.raft.lease_expires_at() {
            0 => 0,
            until => {
                let left = self.tick_interval().saturating_mul(until.saturating_sub(self.raft.now()) as u32);
                wall_ns() + left.as_nanos() as u64
            }
        }
    }

    /// A write or fsync failed: what it covered may not be on disk, and
    /// retrying the fsync could report success for pages the kernel dropped
    /// ("fsyncgate"). The node acknowledges nothing more: it stops ticking
    /// (so, as leader, it sends no heartbeat and the others elect another),
    /// takes no peer message, answers no client, and says why in status.
    fn fence_after_disk_failure(&mut self, why: String) {
        error!(%why, "the disk failed: this node no longer takes part, serves or acknowledges anything");
        self.fail_pending_proposals(&format!("the leader's disk failed ({why})"));
        for (_, read) in self.pending_reads.drain() {
            let _ = read.reply.send(Err(KvError::Unavailable(format!("the disk failed ({why})"))));
        }
        if let Some(reads) = self.local.stop_serving() {
            self.send_lease_reads(reads);
        }
        self.published = None;
        self.disk_failed = Some(why);
    }

    fn expire_reads(&mut self) {
        let expired: Vec<u64> =
            self.pending_reads.iter().filter(|(_, r)| r.since.elapsed() > READ_GIVE_UP).map(|(c, _)| *c).collect();
        for ctx in expired {
            let r = self.pending_reads.remove(&ctx).expect("listed above");
            let _ = r.reply.send(Err(KvError::Unavailable("the read was not confirmed in time".into())));
        }
    }

    fn change(&mut self, change: ChangeRequest, reply: oneshot::Sender<Result<u64, KvError>>) {
        let result = match change {
            ChangeRequest::AddLearner { id, address } => {
                // The address goes into the log first, so that every member
                // can reach the new node by the time it is a member.
                let op = Op::PeerAddress(PeerAddress { id, address });
                self.raft
                    .propose(encode_command(Session::default(), op))
                    .and_then(|_| self.raft.propose_conf_change(ConfChange::AddLearner(id)))
            }
            ChangeRequest::Promote(id) => self.raft.propose_conf_change(ConfChange::Promote(id)),
            ChangeRequest::Remove(id) => self.raft.propose_conf_change(ConfChange::Remove(id)),
            ChangeRequest::Transfer(id) => {
                let _ = reply.send(self.raft.transfer_leader(id).map(|()| 0).map_err(|e| self.propose_error(e)));
                return;
            }
            ChangeRequest::ResetPeers(voters) => {
                warn!(?voters, "OPERATOR RESET OF THE MEMBERSHIP: entries only the lost majority held may be lost");
                let _ = reply.send(
                    self.raft.reset_peers(voters.into_iter().collect()).map(|()| 0).map_err(|e| self.propose_error(e)),
                );
                return;
            }
        };
        match result {
            Ok(index) => {
                self.pending_changes.insert(index, (self.raft.term(), reply));
            }
            Err(e) => {
                let _ = reply.send(Err(self.propose_error(e)));
            }
        }
    }

    fn process_ready(&mut self) {
        if self.disk_failed.is_some() {
            return;
        }
        while self.raft.has_ready() {
            let rd = self.raft.ready();
            for e in &rd.events {
                warn!(event = ?e, "raft event");
            }
            // Before anything of this Ready goes out: one of its messages may
            // be what lets another node lead (a TimeoutNow).
            if !self.raft.lease_valid() || self.published.is_some_and(|l| l.term != self.raft.term()) {
                self.publish_lease(None);
            }
            let must_write = rd.must_persist() || !rd.persisted_messages.is_empty();
            log_snapshot_sends(&rd.messages);
            self.peers.send_all(rd.messages);
            if let Some(s) = &rd.snapshot {
                info!(
                    index = s.meta.index,
                    term = s.meta.term,
                    bytes = s.data.len(),
                    "installing the leader's snapshot"
                );
                match KvState::decode_snapshot(&s.data) {
                    Ok(kv) => self.local.state_mut().kv = kv,
                    Err(e) => error!(error = %e, index = s.meta.index, "a received snapshot does not decode"),
                }
            }
            let number = rd.number;
            // A Ready with nothing to write is durable at once, unless earlier
            // writes are still on their way: durability is in number order.
            if must_write || self.last_written > self.last_persisted {
                self.last_written = number;
                let job = WriteJob {
                    number,
                    hard_state: rd.hard_state,
                    snapshot: rd.snapshot,
                    entries: rd.entries,
                    then_send: rd.persisted_messages,
                    sync: rd.must_sync,
                };
                if self.writer.send(DiskWork::Ready(job)).is_err() {
                    error!("the disk thread is gone");
                    return;
                }
            } else {
                self.raft.on_persisted(number);
            }
            let addresses_known = self.local.state().kv.peers().len();
            self.apply_all(rd.committed_entries);
            if self.local.state().kv.peers().len() != addresses_known {
                self.connect_members();
            }
            // After applying: a leader that committed its own removal steps
            // down in the same Ready, and that change did commit.
            if let Some(ss) = rd.soft_state {
                self.on_role_change(ss);
            }
            for rs in rd.read_states {
                if let Some(r) = self.pending_reads.get_mut(&rs.ctx) {
                    r.index = Some(rs.index);
                    r.lease = rs.path == ReadPath::Lease;
                }
            }
            for ctx in rd.dropped_reads {
                if let Some(r) = self.pending_reads.remove(&ctx) {
                    let _ = r.reply.send(Err(self.not_leader()));
                }
            }
            if rd.conf_state.is_some() {
                self.connect_members();
            }
            self.serve_reads();
            self.maybe_snapshot();
        }
        self.publish_lease(self.lease_to_publish());
        self.publish_metrics();
    }

    fn applied(&self) -> u64 {
        self.local.state().kv.applied()
    }

    /// The lease local reads may rely on: the core's, once everything
    /// committed is applied (see local_reads), ending when the tick that
    /// ends it is due.
    fn lease_to_publish(&self) -> Option<PublishedLease> {
        let until = self.raft.lease_expires_at();
        if until == 0 || self.applied() < self.raft.commit_index() {
            return None;
        }
        let ticks_left = until.saturating_sub(self.raft.now()).saturating_sub(1);
        let until = self.next_tick + self.tick_interval().saturating_mul(u32::try_from(ticks_left).unwrap_or(u32::MAX));
        Some(PublishedLease { term: self.raft.term(), until })
    }

    fn publish_lease(&mut self, lease: Option<PublishedLease>) {
        if lease == self.published {
            return;
        }
        self.published = lease;
        if let Some(reads) = self.local.publish(lease) {
            self.send_lease_reads(reads);
        }
    }

    fn publish_metrics(&self) {
        let m = &self.metrics;
        let role = match self.raft.role() {
            Role::Follower => 0,
            Role::PreCandidate => 1,
            Role::Candidate => 2,
            Role::Leader => 3,
        };
        m.role.store(role, Relaxed);
        m.term.store(self.raft.term(), Relaxed);
        m.commit.store(self.raft.commit_index(), Relaxed);
        m.applied.store(self.applied(), Relaxed);
    }

    /// Per-follower in-flight windows change constantly; sample them per tick.
    fn sample_inflight(&self) {
        let st = self.raft.status();
        let mut inflight = self.metrics.inflight.lock().expect("not poisoned");
        inflight.clear();
        inflight.extend(st.peers.iter().filter(|(id, _)| **id != st.id).map(|(id, p)| (*id, p.inflight as u64)));
    }

    /// Applies a Ready's committed entries under one hold of the state
    /// machine's lock, answering each write as it applies.
    fn apply_all(&mut self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        let local = self.local.clone();
        let mut state = local.state_mut();
        for e in entries {
            self.apply(&mut state.kv, e);
        }
    }

    fn apply(&mut self, kv: &mut KvState, e: Entry) {
        crate::failpoints::crash("crash-before-apply");
        let index = e.index;
        match &e.payload {
            Payload::Command(data) => {
                let outcome = kv.apply(index, data);
                if let Some((term, reply)) = self.pending_writes.remove(&index) {
                    let answer = if term == e.term {
                        outcome.map_err(|err| KvError::Invalid(err.to_string()))
                    } else {
                        Err(KvError::Unavailable("the proposal was replaced by another leader's entry".into()))
                    };
                    let _ = reply.send(answer);
                }
            }
            Payload::Noop | Payload::ConfChange(_) => kv.skip(index),
        }
        if let Some((term, reply)) = self.pending_changes.remove(&index) {
            let answer =
                if term == e.term { Ok(index) } else { Err(KvError::Unavailable("the change was dropped".into())) };
            let _ = reply.send(answer);
        }
    }

    /// Answers every write and membership change still waiting to commit:
    /// ambiguous, since each may yet commit under another leader.
    fn fail_pending_proposals(&mut self, why: &str) {
        for (_, (_, reply)) in self.pending_writes.drain() {
            let _ = reply.send(Err(KvError::Ambiguous(why.to_string())));
        }
        for (_, (_, reply)) in self.pending_changes.drain() {
            let _ = reply.send(Err(KvError::Ambiguous(why.to_string())));
        }
    }

    fn on_role_change(&mut self, ss: raft::SoftState) {
        info!(role = ?ss.role, term = ss.term, leader = ss.leader, "role changed");
        if ss.role != Role::Leader {
            self.fail_pending_proposals("leadership changed before it committed");
        } else {
            self.record_missing_addresses();
        }
        self.flush_lease_reads();
        let _ = self.events.send(NodeEvent {
            node: self.raft.id(),
            kind: "role".into(),
            role: format!("{:?}", ss.role),
            term: ss.term,
            leader: ss.leader,
            wall_ns: wall_ns(),
            monotonic_ns: self.started.elapsed().as_nanos() as u64,
            lease_until_ns: self.lease_until_wall_ns(),
            detail: String::new(),
        });
    }

    /// A new leader writes down the addresses of members that the log does
    /// not know yet (those given on the command line at bootstrap), so that
    /// nodes joining later can reach everyone.
    fn record_missing_addresses(&mut self) {
        let missing: Vec<(u64, String)> = self
            .raft
            .conf()
            .members()
            .filter(|id| !self.local.state().kv.peers().contains_key(id))
            .filter_map(|id| self.seed_addresses.get(&id).map(|a| (id, a.clone())))
            .collect();
        for (id, address) in missing {
            let op = Op::PeerAddress(PeerAddress { id, address });
            if let Err(e) = self.raft.propose(encode_command(Session::default(), op)) {
                warn!(error = %e, "could not record a member's address");
            }
        }
    }

    /// The leader notes, once, every member that has acknowledged it (and
    /// itself), so a member that later comes back on an empty data
    /// directory is recognised and refused instead of voting with a log it
    /// forgot. Proposals lost to a leader change are made again by the next
    /// leader, which sees the member missing from the state.
    fn record_started_members(&mut self) {
        if self.raft.role() != Role::Leader {
            self.started_proposed.clear();
            return;
        }
        let me = self.raft.id();
        let new: Vec<u64> = self
            .raft
            .conf()
            .members()
            .filter(|&id| id == me || self.raft.matched(id).is_some_and(|m| m > 0))
            .filter(|id| !self.local.state().kv.started().contains(id) && !self.started_proposed.contains(id))
            .collect();
        for id in new {
            let op = Op::MemberStarted(MemberStarted { id });
            match self.raft.propose(encode_command(Session::default(), op)) {
                Ok(_) => {
                    self.started_proposed.insert(id);
                }
                Err(e) => debug!(error = %e, id, "could not record a started member yet"),
            }
        }
    }

    /// Says loudly, once, that the cluster lost entries this node committed.
    fn report_lost_commits(&mut self) {
        if self.lost_commits_reported {
            return;
        }
        if let Some(lost) = self.raft.lost_commits() {
            error!(
                "DATA LOSS: {lost}. A voter probably restarted on an emptied data directory; see `raft-node --help`"
            );
            self.lost_commits_reported = true;
        }
    }

    fn connect_members(&mut self) {
        let me = self.raft.id();
        let members: Vec<u64> = self.raft.conf().members().filter(|&id| id != me).collect();
        for id in members {
            if let Some(address) = self.address_of(id) {
                self.peers.ensure(id, address);
            }
        }
    }

    /// Every `snapshot_every` applied entries: snapshot the state machine,
    /// drop the log it covers from memory, and have the disk thread save it
    /// and then drop the WAL segments it covers.
    fn maybe_snapshot(&mut self) {
        let applied = self.applied();
        if applied < self.raft.snapshot_meta().index + self.snapshot_every || applied != self.raft.applied_index() {
            return;
        }
        let data: Bytes = self.local.state().kv.encode_snapshot().into();
        if let Err(e) = self.raft.compact(applied, data) {
            warn!(error = %e, "compaction refused");
            return;
        }
        if self.writer.send(DiskWork::Snapshot(self.raft.snapshot().clone())).is_err() {
            error!("the disk thread is gone");
        }
    }

    /// Members known to have taken part: those the state machine records,
    /// and those that MemberStarted entries in the log not applied yet name
    /// (a restarted node answers before it applied, or even learned the
    /// commit index of, what its log holds; a logged note is evidence
    /// enough, committed or not).
    fn started_members(&self) -> Vec<u64> {
        let mut ids = self.local.state().kv.started().clone();
        for index in self.applied() + 1..=self.raft.last_index() {
            if let Some(Entry { payload: Payload::Command(data), .. }) = self.raft.entry(index)
                && let Some(id) = crate::kv::member_started(data)
            {
                ids.insert(id);
            }
        }
        ids.into_iter().collect()
    }

    /// What is wrong with this node for good, if anything.
    fn alarm(&self) -> String {
        let disk = self.disk_failed.as_ref().map(|why| format!("disk failed: {why}"));
        let lost = self.raft.lost_commits().map(|lost| lost.to_string());
        disk.into_iter().chain(lost).collect::<Vec<_>>().join("; ")
    }

    fn status(&self) -> apb::StatusResponse {
        let st = self.raft.status();
        let tick_ms = self.tick.as_millis() as u64;
        let members = st
            .conf
            .members()
            .map(|id| {
                let peer = st.peers.get(&id);
                apb::Member {
                    id,
                    address: self.address_of(id).unwrap_or_default(),
                    voter: st.conf.voters.contains(&id),
                    match_index: peer.map_or(0, |p| p.matched),
                    progress: peer.map_or(String::new(), |p| format!("{:?}", p.state)),
                }
            })
            .collect();
        apb::StatusResponse {
            id: st.id,
            role: format!("{:?}", st.role),
            term: st.term,
            leader: st.leader,
            leader_address: self.leader_address().unwrap_or_default(),
            commit: st.commit,
            applied: self.applied(),
            last_index: st.last_index,
            persisted: st.persisted,
            snapshot_index: st.snapshot_index,
            members,
            lease_remaining_ms: st.lease_until.map_or(0, |until| until.saturating_sub(st.now) * tick_ms),
            unsafe_bugs: st.unsafe_bugs.iter().map(|b| b.to_string()).collect(),
            fsync: self.fsync,
            cluster: self.cluster.clone(),
            alarm: self.alarm(),
            failpoints: crate::failpoints::active(),
            failpoints_built: crate::failpoints::BUILT_IN,
            started_members: self.started_members(),
            election_timeout_ms: tick_ms * u64::from(self.raft.election_tick()),
        }
    }
}

/// A snapshot transfer's first and last chunk, so both ends of it show in
/// the logs (the follower logs the install).
fn log_snapshot_sends(messages: &[raft::Message]) {
    for m in messages {
        if let raft::MessageBody::SnapshotChunk { meta, total_len, offset, data } = &m.body {
            if *offset == 0 {
                info!(to = m.to, index = meta.index, term = meta.term, bytes = total_len, "sending a snapshot");
            }
            if offset + data.len() as u64 == *total_len {
                info!(to = m.to, index = meta.index, "sent the last chunk of the snapshot");
            }
        }
    }
}

pub fn wall_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
