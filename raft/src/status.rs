//! A read-only picture of a node, for admin APIs and logs.

use std::collections::BTreeMap;

use crate::config::UnsafeBug;
use crate::progress::ProgressState;
use crate::raft::{Raft, Role};
use crate::types::{ConfState, NodeId};

#[derive(Clone, Debug)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub term: u64,
    /// Whom this node voted for in `term` (0: nobody).
    pub vote: NodeId,
    pub leader: NodeId,
    pub commit: u64,
    pub applied: u64,
    pub persisted: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
    pub conf: ConfState,
    /// The tick at which the lease ends, when this node holds a valid one.
    pub lease_until: Option<u64>,
    pub now: u64,
    /// Leader only: what it knows of every member.
    pub peers: BTreeMap<NodeId, PeerStatus>,
    pub unsafe_bugs: Vec<UnsafeBug>,
    pub lost_commits: Option<crate::raft::LostCommits>,
}

#[derive(Clone, Debug)]
pub struct PeerStatus {
    pub matched: u64,
    pub next: u64,
    pub state: ProgressState,
    pub inflight: usize,
}

impl Raft {
    pub fn status(&self) -> Status {
        Status {
            id: self.cfg.id,
            role: self.role,
            term: self.term,
            vote: self.vote,
            leader: self.leader,
            commit: self.log.committed,
            applied: self.log.applied,
            persisted: self.log.persisted,
            last_index: self.log.last_index(),
            snapshot_index: self.log.snapshot().meta.index,
            conf: self.conf.clone(),
            lease_until: self.lease_valid().then_some(self.lease_until),
            now: self.now,
            peers: self
                .progress
                .iter()
                .map(|(id, p)| {
                    let peer =
                        PeerStatus { matched: p.matched, next: p.next, state: p.state, inflight: p.inflights.len() };
                    (*id, peer)
                })
                .collect(),
            unsafe_bugs: self.cfg.unsafe_bugs.iter().copied().collect(),
            lost_commits: self.lost_commits.clone(),
        }
    }
}
