//! Linearizable reads without writing to the log (thesis §6.4): ReadIndex,
//! the leader lease, and follower reads through the leader.
//!
//! A read is answered with an index; the driver serves it once its state
//! machine has applied that index.
//! - ReadIndex: the leader records its commit index, then confirms it is still
//!   the leader by a heartbeat round that a quorum echoes.
//! - Lease: a quorum that echoed a round sent at tick `t` will not elect anyone
//!   else before `t + lease_ticks` (leader stickiness), so until then the
//!   leader answers from its commit index at once. The lease needs check-quorum
//!   (which is what makes voters sticky), ends with the term, and is dropped
//!   for good when a TimeoutNow goes out.
//! - Follower: the follower asks the leader for a read index.

use crate::config::UnsafeBug;
use crate::quorum::majority_value;
use crate::raft::{Raft, Role};
use crate::types::{MessageBody, NO_NODE, NodeId, ReadPath, ReadState};

/// How a read asks to be confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadMode {
    /// Always confirm leadership with a heartbeat round.
    ReadIndex,
    /// Answer from the lease when it is valid, else as ReadIndex.
    Lease,
}

#[derive(Clone, Debug)]
pub(crate) struct PendingRead {
    pub ctx: u64,
    /// Ourselves, or the follower that forwarded the read.
    pub requester: NodeId,
    pub index: u64,
    /// Served once a quorum has echoed this heartbeat round.
    pub round: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("no leader is known")]
    NoLeader,
}

impl Raft {
    /// Asks for a linearizable read identified by `ctx`. The answer comes as a
    /// [`ReadState`] in a later Ready, or `ctx` appears in the Ready's
    /// dropped reads when it can no longer be served (leadership lost).
    pub fn read(&mut self, ctx: u64, mode: ReadMode) -> Result<(), ReadError> {
        match self.role {
            Role::Leader => {
                let id = self.cfg.id;
                self.leader_read(id, ctx, mode);
                Ok(())
            }
            Role::Follower if self.leader != NO_NODE => {
                let leader = self.leader;
                self.send(leader, MessageBody::ReadIndex { ctx });
                Ok(())
            }
            _ => Err(ReadError::NoLeader),
        }
    }

    pub(crate) fn committed_own_term(&self) -> bool {
        self.log.term(self.log.committed) == Some(self.term)
    }

    /// Whether a read may be answered from the lease right now.
    pub fn lease_valid(&self) -> bool {
        let buggy = self.cfg.has_bug(UnsafeBug::StaleLeaseRead);
        self.role == Role::Leader
            && self.cfg.check_quorum
            && self.committed_own_term()
            && (buggy || (!self.lease_revoked && self.lead_transferee == NO_NODE))
            && self.now < self.lease_until
    }

    /// The tick (of this node's clock) at which the current lease ends; 0 if none.
    pub fn lease_expires_at(&self) -> u64 {
        if self.lease_valid() { self.lease_until } else { 0 }
    }

    fn leader_read(&mut self, requester: NodeId, ctx: u64, mode: ReadMode) {
        if !self.committed_own_term() {
            // Our commit index may lag entries a previous leader committed.
            self.reads_before_own_term.push((requester, ctx, mode));
            return;
        }
        let index = self.log.committed;
        if mode == ReadMode::Lease && self.lease_valid() {
            self.answer_read(requester, ctx, index, ReadPath::Lease);
            return;
        }
        if self.conf.voters.len() == 1 {
            self.answer_read(requester, ctx, index, ReadPath::ReadIndex);
            return;
        }
        self.pending_reads.push_back(PendingRead { ctx, requester, index, round: self.round + 1 });
        self.need_read_round = true;
    }

    pub(crate) fn handle_forwarded_read(&mut self, from: NodeId, ctx: u64) {
        self.leader_read(from, ctx, ReadMode::Lease);
    }

    fn answer_read(&mut self, requester: NodeId, ctx: u64, index: u64, path: ReadPath) {
        if requester == self.cfg.id {
            self.read_states.push(ReadState { ctx, index, path });
        } else {
            self.send(requester, MessageBody::ReadIndexResp { ctx, index: Some(index) });
        }
    }

    pub(crate) fn handle_read_index_resp(&mut self, ctx: u64, index: Option<u64>) {
        match index {
            Some(index) => self.read_states.push(ReadState { ctx, index, path: ReadPath::Follower }),
            None => self.dropped_reads.push(ctx),
        }
    }

    /// Our first entry of the term is committed: serve the reads held back.
    pub(crate) fn release_reads_before_own_term(&mut self) {
        if self.role != Role::Leader || !self.committed_own_term() {
            return;
        }
        for (requester, ctx, mode) in std::mem::take(&mut self.reads_before_own_term) {
            self.leader_read(requester, ctx, mode);
        }
    }

    /// A heartbeat round was echoed: renew the lease from the newest round a
    /// quorum has echoed, and answer the reads waiting for it.
    pub(crate) fn advance_reads(&mut self) {
        let (id, round) = (self.cfg.id, self.round);
        let confirmed = majority_value(&self.conf.voters, |v| {
            if v == id { round } else { self.progress.get(&v).map_or(0, |p| p.acked_round) }
        });
        if confirmed <= self.confirmed_round {
            return;
        }
        self.confirmed_round = confirmed;
        if let Some(&sent_at) = self.round_sent_at.get(&confirmed) {
            self.lease_until = self.lease_until.max(sent_at + self.cfg.lease_ticks());
        }
        self.round_sent_at = self.round_sent_at.split_off(&confirmed);
        while self.pending_reads.front().is_some_and(|r| r.round <= confirmed) {
            let r = self.pending_reads.pop_front().expect("checked above");
            self.answer_read(r.requester, r.ctx, r.index, ReadPath::ReadIndex);
        }
    }

    /// Leadership is lost: every read waiting on it fails.
    pub(crate) fn fail_pending_reads(&mut self) {
        let pending = std::mem::take(&mut self.pending_reads).into_iter().map(|r| (r.requester, r.ctx));
        let early = std::mem::take(&mut self.reads_before_own_term).into_iter().map(|(r, c, _)| (r, c));
        for (requester, ctx) in pending.chain(early).collect::<Vec<_>>() {
            if requester == self.cfg.id {
                self.dropped_reads.push(ctx);
            } else {
                self.send(requester, MessageBody::ReadIndexResp { ctx, index: None });
            }
        }
    }
}
