//! The hand-off between the core and its driver.

use crate::config::UnsafeBug;
use crate::raft::{Raft, Role};
use crate::types::{ConfState, Entry, HardState, Message, NO_NODE, NodeId, ReadState, Snapshot};

/// Role and leader as last reported, so the driver can log and publish changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftState {
    pub role: Role,
    pub leader: NodeId,
    pub term: u64,
}

impl Default for SoftState {
    fn default() -> Self {
        SoftState { role: Role::Follower, leader: NO_NODE, term: 0 }
    }
}

/// Things worth a line in the node's log that are not visible in the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An operator forced the membership (`reset_peers`).
    PeersReset {
        voters: Vec<NodeId>,
    },
    SteppedDown {
        reason: &'static str,
    },
}

/// Everything the core asks of its driver at one point. Handle it in this order:
///
/// 1. `messages`: send now. They never depend on what this Ready persists,
///    which is how the leader replicates in parallel with its own disk write.
/// 2. `snapshot`, `entries`, `hard_state`: persist, in that order, as one
///    write (entries whose index is at or below the last stored one replace
///    the stored suffix). This may run in the background. Make it durable
///    (fdatasync) when `must_sync`; otherwise it may wait for the next write
///    that syncs, as with etcd's `MustSync`: such a write only moves the
///    commit index, and a commit index a crash took back is learned again
///    from the leader, while entries, a snapshot, a term or a vote are
///    promises.
/// 3. `persisted_messages`: send only once step 2 is durable. They carry a
///    vote or a term that must not be forgotten by a crash.
/// 4. `committed_entries`: apply, in order (after restoring `snapshot` into
///    the state machine, if there is one). They may be applied before step 2
///    completes: they are durable on a quorum already.
/// 5. `read_states`: answer each read once the state machine has applied its
///    index; fail `dropped_reads`.
/// 6. Call [`Raft::on_persisted`] with `number` once step 2 is durable.
///    Followers acknowledge entries, and the leader counts its own, only then.
///
/// Ready values may be taken again before earlier ones are persisted; their
/// writes must become durable in `number` order.
#[derive(Debug, Default)]
pub struct Ready {
    pub number: u64,
    pub soft_state: Option<SoftState>,
    pub hard_state: Option<HardState>,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    pub messages: Vec<Message>,
    pub persisted_messages: Vec<Message>,
    /// Whether step 2 must reach the disk before `on_persisted` (see above).
    pub must_sync: bool,
    pub committed_entries: Vec<Entry>,
    pub read_states: Vec<ReadState>,
    pub dropped_reads: Vec<u64>,
    /// The membership, when it changed since the last Ready.
    pub conf_state: Option<ConfState>,
    pub events: Vec<Event>,
}

impl Ready {
    /// Whether this Ready asks for a disk write.
    pub fn must_persist(&self) -> bool {
        self.hard_state.is_some() || self.snapshot.is_some() || !self.entries.is_empty()
    }
}

/// A Ready whose write the driver has not yet confirmed durable.
#[derive(Debug)]
pub(crate) struct InFlightWrite {
    number: u64,
    hard_state: Option<HardState>,
    snapshot_index: Option<u64>,
    last_entry: Option<(u64, u64)>,
}

impl Raft {
    /// Sends what the calls since the last Ready made due: one batch of
    /// Appends for all new proposals, one heartbeat round for all new reads.
    fn flush(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        if self.need_bcast || self.log.committed > self.commit_sent {
            self.need_bcast = false;
            let commit_moved = self.log.committed > self.commit_sent;
            self.bcast_append(commit_moved);
        }
        if self.need_read_round {
            self.bcast_heartbeat();
        }
    }

    fn hard_state(&self) -> HardState {
        let vote = if self.cfg.has_bug(UnsafeBug::ForgetVote) { NO_NODE } else { self.vote };
        HardState { term: self.term, vote, commit: self.log.committed }
    }

    fn soft_state(&self) -> SoftState {
        SoftState { role: self.role, leader: self.leader, term: self.term }
    }

    pub fn has_ready(&self) -> bool {
        let leader_due = self.role == Role::Leader
            && (self.need_bcast || self.need_read_round || self.log.committed > self.commit_sent);
        leader_due
            || !self.msgs.is_empty()
            || self.log.unstable <= self.log.last_index()
            || self.log.snapshot_to_install
            || self.log.committed > self.log.applied
            || self.hard_state() != self.handed_hard_state
            || self.soft_state() != self.handed_soft_state
            || !self.read_states.is_empty()
            || !self.dropped_reads.is_empty()
            || !self.events.is_empty()
    }

    /// Takes everything pending. See [`Ready`] for what to do with it.
    pub fn ready(&mut self) -> Ready {
        self.flush();
        self.ready_number += 1;
        let number = self.ready_number;
        let snapshot = self.log.take_snapshot_to_install();
        let entries = self.log.take_unstable();
        let committed_entries = self.log.take_committed();

        let hs = self.hard_state();
        let hard_state = (hs != self.handed_hard_state).then_some(hs);
        let promised = (hs.term, hs.vote) != (self.handed_hard_state.term, self.handed_hard_state.vote);
        let must_sync = promised || snapshot.is_some() || !entries.is_empty();
        self.handed_hard_state = hs;
        let ss = self.soft_state();
        let soft_state = (ss != self.handed_soft_state).then_some(ss);
        self.handed_soft_state = ss;
        let conf_state = (self.conf != self.reported_conf).then(|| self.conf.clone());
        self.reported_conf = self.conf.clone();

        // Any message may reveal a term or vote: hold them all while one is
        // not yet durable, so a crash cannot make us contradict them.
        let msgs = std::mem::take(&mut self.msgs);
        let vote_term_durable = (hs.term, hs.vote) == (self.durable_hard_state.term, self.durable_hard_state.vote);
        let (messages, persisted_messages) = if vote_term_durable { (msgs, Vec::new()) } else { (Vec::new(), msgs) };

        self.in_flight_writes.push_back(InFlightWrite {
            number,
            hard_state,
            snapshot_index: snapshot.as_ref().map(|s| s.meta.index),
            last_entry: entries.last().map(|e| (e.index, e.term)),
        });
        Ready {
            number,
            soft_state,
            hard_state,
            snapshot,
            entries,
            messages,
            persisted_messages,
            must_sync,
            committed_entries,
            read_states: std::mem::take(&mut self.read_states),
            dropped_reads: std::mem::take(&mut self.dropped_reads),
            conf_state,
            events: std::mem::take(&mut self.events),
        }
    }

    /// Everything in the Ready numbered `number`, and in those before it, is durable.
    pub fn on_persisted(&mut self, number: u64) {
        let mut advanced = false;
        while self.in_flight_writes.front().is_some_and(|w| w.number <= number) {
            let w = self.in_flight_writes.pop_front().expect("checked above");
            if let Some(hs) = w.hard_state {
                self.durable_hard_state = hs;
            }
            if let Some(index) = w.snapshot_index {
                advanced |= self.log.snapshot_persisted(index);
            }
            if let Some((index, term)) = w.last_entry {
                advanced |= self.log.persisted_to(index, term);
            }
        }
        if !advanced {
            return;
        }
        match self.role {
            Role::Leader => {
                let (id, persisted) = (self.cfg.id, self.log.persisted);
                if let Some(pr) = self.progress.get_mut(&id) {
                    pr.maybe_update(persisted);
                }
                if self.maybe_commit() {
                    self.need_bcast = true;
                }
            }
            _ => self.ack_leader(false),
        }
    }
}
