//! The state machine of one node: fields, role transitions, ticks, and the
//! term rules every message passes before its role's handler sees it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Config, ConfigError, UnsafeBug};
use crate::log::RaftLog;
use crate::progress::{Inflights, Progress};
use crate::read::PendingRead;
use crate::ready::InFlightWrite;
use crate::types::{
    ConfState, Entry, HardState, Message, MessageBody, NO_NODE, NodeId, Payload, ReadState, Snapshot, SnapshotMeta,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// Everything a node recovers from its disk at start.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    pub hard_state: HardState,
    /// The latest snapshot (empty at index 0 before the first compaction). A
    /// node joining an existing cluster starts from `Durable::default()`: no
    /// membership, so it neither campaigns nor votes until the leader's log
    /// or snapshot tells it more.
    pub snapshot: Snapshot,
    /// The entries after the snapshot, in order.
    pub entries: Vec<Entry>,
}

/// Proof that the cluster lost committed entries. By leader completeness
/// neither can happen in a cluster whose voters keep their disks; both are
/// what a voter restarted on an emptied data directory causes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LostCommits {
    /// A leader of `term` sent an entry (or a log position) at `index`, at
    /// or below our commit index `committed`, whose term differs from ours.
    Contradicted { leader: NodeId, term: u64, index: u64, our_term: u64, leader_term_at_index: u64, committed: u64 },
    /// As leader, we heard `follower` acknowledge `index`, past our last
    /// index `last`: it holds committed entries we lack.
    AckedBeyondLog { follower: NodeId, index: u64, last: u64 },
}

impl std::fmt::Display for LostCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LostCommits::Contradicted { leader, term, index, our_term, leader_term_at_index, committed } => write!(
                f,
                "the cluster lost committed entries: leader {leader} of term {term} has term {leader_term_at_index} \
                 at index {index} where this node committed term {our_term} (commit index {committed}); refusing to \
                 follow it"
            ),
            LostCommits::AckedBeyondLog { follower, index, last } => write!(
                f,
                "the cluster lost committed entries: follower {follower} acknowledged index {index}, past this \
                 leader's last index {last}; ignoring its acknowledgements"
            ),
        }
    }
}

impl Durable {
    /// The state of a brand-new member of a cluster bootstrapped with `voters`:
    /// the initial membership is the log's first entry, committed in term 1,
    /// so a node that joins later learns it from the log like any change.
    pub fn bootstrap(voters: impl IntoIterator<Item = NodeId>) -> Self {
        let change = crate::types::ConfChange::Reset(voters.into_iter().collect());
        Durable {
            hard_state: HardState { term: 1, vote: NO_NODE, commit: 1 },
            snapshot: Snapshot::default(),
            entries: vec![Entry { index: 1, term: 1, payload: Payload::ConfChange(change) }],
        }
    }
}

/// One Raft node's consensus state. See the crate documentation for the loop
/// that drives it.
pub struct Raft {
    pub(crate) cfg: Config,
    pub(crate) term: u64,
    pub(crate) vote: NodeId,
    pub(crate) role: Role,
    pub(crate) leader: NodeId,
    pub(crate) log: RaftLog,
    pub(crate) conf: ConfState,
    /// Memberships by the index they took effect at, oldest first, so that a
    /// snapshot at an earlier index records the membership of its time.
    pub(crate) conf_history: Vec<(u64, ConfState)>,
    rng: ChaCha8Rng,

    /// Ticks since boot: the core's only clock.
    pub(crate) now: u64,
    pub(crate) election_elapsed: u32,
    randomized_election_timeout: u32,
    heartbeat_elapsed: u32,
    /// Ticks since this node last heard from a leader of its term (or was the
    /// leader, or restarted). While it is below the election timeout the node
    /// refuses to help elect anybody else: leader stickiness, which is also
    /// what makes the current leader's lease safe. Kept apart from
    /// `election_elapsed`, which vote grants and term changes reset.
    pub(crate) leader_quiet_ticks: u64,

    // Candidate state.
    pub(crate) votes: BTreeMap<NodeId, bool>,

    // Leader state.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) pending_conf_index: u64,
    pub(crate) lead_transferee: NodeId,
    pub(crate) transfer_elapsed: u32,
    /// A TimeoutNow went out this term: the target may win an election at any
    /// moment, so no lease may be trusted again before the term ends.
    pub(crate) lease_revoked: bool,
    pub(crate) lease_until: u64,
    pub(crate) round: u64,
    pub(crate) round_sent_at: BTreeMap<u64, u64>,
    pub(crate) confirmed_round: u64,
    pub(crate) pending_reads: VecDeque<PendingRead>,
    /// Reads received before this leader committed an entry of its term, when
    /// its commit index may still lag the true one.
    pub(crate) reads_before_own_term: Vec<(NodeId, u64, crate::read::ReadMode)>,
    pub(crate) need_read_round: bool,
    pub(crate) need_bcast: bool,
    pub(crate) commit_sent: u64,

    // Follower state.
    /// Highest index our log is known to share with the current leader.
    pub(crate) verified_match: u64,
    pub(crate) ack_sent: u64,
    pub(crate) incoming_snapshot: Option<(SnapshotMeta, Vec<u8>)>,
    /// Set, for good, when a leader's log disagreed with entries we had
    /// committed: the cluster lost acknowledged writes.
    pub(crate) lost_commits: Option<LostCommits>,
    /// Membership forced by `reset_peers`, written to the log when we lead.
    pub(crate) reset_to: Option<BTreeSet<NodeId>>,

    // Output waiting for the next Ready.
    pub(crate) msgs: Vec<Message>,
    pub(crate) read_states: Vec<ReadState>,
    pub(crate) dropped_reads: Vec<u64>,
    pub(crate) events: Vec<crate::ready::Event>,
    pub(crate) handed_hard_state: HardState,
    pub(crate) durable_hard_state: HardState,
    pub(crate) handed_soft_state: crate::ready::SoftState,
    pub(crate) reported_conf: ConfState,
    pub(crate) ready_number: u64,
    pub(crate) in_flight_writes: VecDeque<InFlightWrite>,
}

impl Raft {
    pub fn new(cfg: Config, durable: Durable) -> Result<Raft, ConfigError> {
        cfg.validate()?;
        let Durable { hard_state, snapshot, entries } = durable;
        let conf = snapshot.meta.conf.clone();
        let conf_history = vec![(snapshot.meta.index, conf.clone())];
        let log = RaftLog::restore(snapshot, entries, hard_state.commit);
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut raft = Raft {
            term: hard_state.term,
            vote: hard_state.vote,
            role: Role::Follower,
            leader: NO_NODE,
            log,
            conf,
            conf_history,
            rng,
            now: 0,
            election_elapsed: 0,
            randomized_election_timeout: cfg.election_tick,
            heartbeat_elapsed: 0,
            leader_quiet_ticks: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            pending_conf_index: 0,
            lead_transferee: NO_NODE,
            transfer_elapsed: 0,
            lease_revoked: false,
            lease_until: 0,
            round: 0,
            round_sent_at: BTreeMap::new(),
            confirmed_round: 0,
            pending_reads: VecDeque::new(),
            reads_before_own_term: Vec::new(),
            need_read_round: false,
            need_bcast: false,
            commit_sent: 0,
            verified_match: 0,
            lost_commits: None,
            ack_sent: 0,
            incoming_snapshot: None,
            reset_to: None,
            msgs: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            events: Vec::new(),
            handed_hard_state: hard_state,
            durable_hard_state: hard_state,
            handed_soft_state: Default::default(),
            reported_conf: ConfState::default(),
            ready_number: 0,
            in_flight_writes: VecDeque::new(),
            cfg,
        };
        // The membership is part of the committed log: replay the changes the
        // commit index covers, exactly as they were applied before the restart.
        let replay: Vec<(u64, crate::types::ConfChange)> = (raft.log.first_index()..=raft.log.committed)
            .filter_map(|i| match &raft.log.entry(i)?.payload {
                Payload::ConfChange(cc) => Some((i, cc.clone())),
                _ => None,
            })
            .collect();
        for (index, cc) in replay {
            raft.conf.apply(&cc);
            raft.conf_history.push((index, raft.conf.clone()));
        }
        // A restarted node may have acked a leader's heartbeat just before it
        // went down, and that leader may still rely on it for its lease: wait
        // an election timeout before voting. A node that never left term 1
        // (the bootstrap term) has acked no leader.
        if hard_state.term <= 1 {
            raft.leader_quiet_ticks = u64::from(raft.cfg.election_tick);
        }
        raft.reset_randomized_election_timeout();
        Ok(raft)
    }

    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn leader(&self) -> NodeId {
        self.leader
    }
    /// What showed that the cluster lost entries we had committed, if anything.
    pub fn lost_commits(&self) -> Option<&LostCommits> {
        self.lost_commits.as_ref()
    }

    /// The shortest election timeout, in ticks.
    pub fn election_tick(&self) -> u32 {
        self.cfg.election_tick
    }

    /// Leader only: the highest index `id` has acknowledged in this term.
    pub fn matched(&self, id: NodeId) -> Option<u64> {
        if self.role != Role::Leader {
            return None;
        }
        self.progress.get(&id).map(|p| p.matched)
    }

    pub fn conf(&self) -> &ConfState {
        &self.conf
    }
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn commit_index(&self) -> u64 {
        self.log.committed
    }
    pub fn applied_index(&self) -> u64 {
        self.log.applied
    }
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    pub fn persisted_index(&self) -> u64 {
        self.log.persisted
    }
    pub fn now(&self) -> u64 {
        self.now
    }
    /// The entry at `index`, if this node still holds it.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.entry(index)
    }
    pub fn term_at(&self, index: u64) -> Option<u64> {
        self.log.term(index)
    }
    pub fn snapshot_meta(&self) -> &SnapshotMeta {
        &self.log.snapshot().meta
    }
    pub fn has_bug(&self, bug: UnsafeBug) -> bool {
        self.cfg.has_bug(bug)
    }

    /// Whether this node may campaign: it is a voter of its own membership.
    pub fn is_promotable(&self) -> bool {
        self.conf.voters.contains(&self.cfg.id)
    }

    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        self.msgs.push(Message { from: self.cfg.id, to, term: self.term, body });
    }

    pub(crate) fn send_with_term(&mut self, to: NodeId, term: u64, body: MessageBody) {
        self.msgs.push(Message { from: self.cfg.id, to, term, body });
    }

    fn reset_randomized_election_timeout(&mut self) {
        let e = self.cfg.election_tick;
        self.randomized_election_timeout = self.rng.random_range(e..2 * e);
    }

    /// Leaves whatever role we had, clearing its state, for `term`.
    fn reset(&mut self, term: u64) {
        // Before the term changes: refusals to forwarded reads carry the old term.
        self.fail_pending_reads();
        if self.term != term {
            self.term = term;
            self.vote = NO_NODE;
            self.lease_revoked = false;
        }
        self.leader = NO_NODE;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.votes.clear();
        self.progress.clear();
        self.lead_transferee = NO_NODE;
        self.transfer_elapsed = 0;
        self.lease_until = 0;
        self.round_sent_at.clear();
        self.confirmed_round = 0;
        self.need_read_round = false;
        self.need_bcast = false;
        self.verified_match = 0;
        self.ack_sent = 0;
    }

    pub(crate) fn become_follower(&mut self, term: u64, leader: NodeId) {
        self.reset(term);
        self.role = Role::Follower;
        self.leader = leader;
    }

    pub(crate) fn become_pre_candidate(&mut self) {
        // A pre-candidate keeps its term and vote: nothing changes until the
        // pre-vote shows it could win.
        self.votes.clear();
        self.leader = NO_NODE;
        self.role = Role::PreCandidate;
        self.election_elapsed = 0;
        self.reset_randomized_election_timeout();
    }

    pub(crate) fn become_candidate(&mut self) {
        self.reset(self.term + 1);
        self.vote = self.cfg.id;
        self.role = Role::Candidate;
    }

    pub(crate) fn become_leader(&mut self) {
        self.reset(self.term);
        self.role = Role::Leader;
        self.leader = self.cfg.id;
        self.leader_quiet_ticks = 0;
        let next = self.log.last_index() + 1;
        let members: Vec<NodeId> = self.conf.members().collect();
        for id in members {
            let mut pr = Progress::new(next, Inflights::new(self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes));
            if id == self.cfg.id {
                pr.matched = self.log.persisted;
                pr.become_replicate();
                pr.next = next;
            }
            self.progress.insert(id, pr);
        }
        let first = match self.reset_to.take() {
            Some(voters) => Payload::ConfChange(crate::types::ConfChange::Reset(voters)),
            None => Payload::Noop,
        };
        let index = self.append_entry(first);
        // No membership change until an entry of this term is committed: the
        // single-server change is only safe once the previous change is
        // settled under this leader (braft #182).
        self.pending_conf_index = index;
    }

    /// Appends one entry of our term to our own log (leader only) and returns its index.
    pub(crate) fn append_entry(&mut self, payload: Payload) -> u64 {
        let index = self.log.last_index() + 1;
        self.log.append(vec![Entry { index, term: self.term, payload }]);
        if self.cfg.has_bug(UnsafeBug::LeaderSelfAck) {
            let id = self.cfg.id;
            if let Some(pr) = self.progress.get_mut(&id) {
                pr.maybe_update(index);
            }
            self.maybe_commit();
        }
        self.need_bcast = true;
        index
    }

    /// Advances time by one tick.
    pub fn tick(&mut self) {
        self.now += 1;
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        self.leader_quiet_ticks += 1;
        if self.is_promotable() && self.election_elapsed >= self.randomized_election_timeout {
            self.election_elapsed = 0;
            self.campaign(false);
        }
    }

    fn tick_leader(&mut self) {
        self.leader_quiet_ticks = 0;
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.lead_transferee != NO_NODE {
            self.transfer_elapsed += 1;
            if self.transfer_elapsed >= self.cfg.election_tick {
                self.abort_transfer();
            }
        }
        if self.election_elapsed >= self.cfg.election_tick {
            self.election_elapsed = 0;
            if self.cfg.check_quorum && !self.quorum_recently_active() {
                self.hand_over_on_step_down();
                self.become_follower(self.term, NO_NODE);
                return;
            }
        }
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.bcast_heartbeat();
        }
    }

    /// A leader that no longer hears a quorum may still be heard by them
    /// (its inbound links cut, its answers lost): they would wait out a whole
    /// election timeout of silence after it steps down before electing
    /// anyone. It tells the most caught-up voter to campaign at once
    /// instead, as a transfer would. Safe whoever gets it: the vote rules
    /// still decide, the lease this bypasses is this leader's own, which it
    /// gives up now, and a term moved on since drops the message.
    fn hand_over_on_step_down(&mut self) {
        let id = self.cfg.id;
        let successor = self
            .conf
            .voters
            .iter()
            .filter(|&&v| v != id)
            .filter_map(|v| self.progress.get(v).map(|p| (p.matched, std::cmp::Reverse(*v))))
            .max()
            .map(|(_, std::cmp::Reverse(v))| v);
        if let Some(to) = successor {
            self.send_timeout_now(to);
        }
    }

    /// Whether a quorum of voters was heard from since the last check; resets
    /// the marks for the next round.
    fn quorum_recently_active(&mut self) -> bool {
        let id = self.cfg.id;
        let active = self
            .conf
            .voters
            .iter()
            .filter(|v| **v == id || self.progress.get(v).is_some_and(|p| p.recent_active))
            .count();
        for pr in self.progress.values_mut() {
            pr.recent_active = false;
        }
        crate::quorum::is_majority(&self.conf.voters, active)
    }

    /// Still hearing from a leader of our term (or being it): refuse to help
    /// anyone else get elected.
    pub(crate) fn in_lease(&self) -> bool {
        self.cfg.check_quorum && self.leader_quiet_ticks < u64::from(self.cfg.election_tick)
    }

    /// Feeds one message in. Messages for another node, from an unknown
    /// sender or out of date are dropped or answered as Raft says; no message
    /// can make this panic.
    pub fn step(&mut self, m: Message) {
        if m.to != self.cfg.id || m.from == NO_NODE || m.from == self.cfg.id {
            return;
        }
        if m.term > self.term {
            let vote_request =
                matches!(m.body, MessageBody::PreVote { .. } | MessageBody::Vote { transfer: false, .. });
            if vote_request && self.in_lease() {
                return;
            }
            match m.body {
                // A pre-vote does not change anybody's term, nor does the
                // grant of one, which echoes the term the candidate would use.
                MessageBody::PreVote { .. } | MessageBody::PreVoteResp { reject: false } => {}
                _ => {
                    let from_leader = matches!(
                        m.body,
                        MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::SnapshotChunk { .. }
                    );
                    self.become_follower(m.term, if from_leader { m.from } else { NO_NODE });
                }
            }
        } else if m.term < self.term {
            match m.body {
                // A stale leader (or a node cut off while we moved on) learns
                // our term from the answer and steps down.
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::SnapshotChunk { .. } => {
                    self.send(m.from, MessageBody::AppendResp { index: 0, reject: None });
                }
                MessageBody::PreVote { .. } => self.send(m.from, MessageBody::PreVoteResp { reject: true }),
                _ => {}
            }
            return;
        }

        match m.body {
            MessageBody::PreVote { .. } | MessageBody::Vote { .. } => self.handle_vote_request(m),
            _ => match self.role {
                Role::Leader => self.step_leader(m),
                Role::PreCandidate | Role::Candidate => self.step_candidate(m),
                Role::Follower => self.step_follower(m),
            },
        }
    }

    fn step_follower(&mut self, m: Message) {
        match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::SnapshotChunk { .. } => {
                if self.leader != m.from {
                    self.leader = m.from;
                    self.verified_match = 0;
                    self.ack_sent = 0;
                }
                self.election_elapsed = 0;
                self.leader_quiet_ticks = 0;
                self.handle_from_leader(m);
            }
            MessageBody::TimeoutNow if self.is_promotable() => {
                self.campaign(true);
            }
            MessageBody::ReadIndexResp { ctx, index } => self.handle_read_index_resp(ctx, index),
            _ => {}
        }
    }

    fn step_candidate(&mut self, m: Message) {
        match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::SnapshotChunk { .. } => {
                self.become_follower(self.term, m.from);
                self.step_follower(m);
            }
            MessageBody::PreVoteResp { reject } if self.role == Role::PreCandidate => self.record_vote(m.from, !reject),
            MessageBody::VoteResp { reject } if self.role == Role::Candidate => self.record_vote(m.from, !reject),
            _ => {}
        }
    }

    fn step_leader(&mut self, m: Message) {
        if let Some(pr) = self.progress.get_mut(&m.from) {
            pr.recent_active = true;
        }
        match m.body {
            MessageBody::AppendResp { index, reject } => self.handle_append_resp(m.from, index, reject),
            MessageBody::HeartbeatResp { round } => self.handle_heartbeat_resp(m.from, round),
            MessageBody::SnapshotChunkResp { index, received } => {
                self.handle_snapshot_chunk_resp(m.from, index, received)
            }
            MessageBody::ReadIndex { ctx } => self.handle_forwarded_read(m.from, ctx),
            _ => {}
        }
    }
}
