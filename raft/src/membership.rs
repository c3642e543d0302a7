//! Proposals, membership changes, leader transfer, compaction and the
//! operator's reset: the calls that change what the cluster is.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::config::UnsafeBug;
use crate::progress::{Inflights, Progress};
use crate::raft::{Raft, Role};
use crate::ready::Event;
use crate::types::{ConfChange, ConfState, MessageBody, NO_NODE, NodeId, Payload, Snapshot, SnapshotMeta};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProposeError {
    /// `leader` is the leader this node knows of, or 0.
    #[error("not the leader (known leader: {leader})")]
    NotLeader { leader: NodeId },
    #[error("a leader transfer is in progress")]
    TransferInProgress,
    /// Too many entries are waiting to commit; retry later.
    #[error("too many uncommitted entries; the cluster is not keeping up")]
    Backpressure,
    #[error("a membership change is still pending, or this leader has not yet committed an entry of its term")]
    ConfChangePending,
    #[error("invalid membership change: {0}")]
    InvalidConfChange(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompactError {
    #[error("cannot compact to {index}: only {applied} is applied")]
    NotApplied { index: u64, applied: u64 },
}

impl Raft {
    fn check_can_propose(&self) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader: self.leader });
        }
        if self.lead_transferee != NO_NODE {
            return Err(ProposeError::TransferInProgress);
        }
        Ok(())
    }

    /// Appends a command to the leader's log and returns its index. Sending and
    /// persisting happen in the next Ready, batched with other proposals.
    pub fn propose(&mut self, data: Bytes) -> Result<u64, ProposeError> {
        self.check_can_propose()?;
        if self.log.last_index() - self.log.committed >= self.cfg.max_uncommitted_entries {
            return Err(ProposeError::Backpressure);
        }
        Ok(self.append_entry(Payload::Command(data)))
    }

    /// Proposes a single-server membership change and returns its index. It
    /// takes effect on each node as that node learns it is committed.
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<u64, ProposeError> {
        self.check_can_propose()?;
        if self.pending_conf_index > self.log.committed {
            return Err(ProposeError::ConfChangePending);
        }
        let invalid = |why: String| Err(ProposeError::InvalidConfChange(why));
        match &change {
            ConfChange::AddLearner(id) => {
                if *id == NO_NODE || self.conf.is_member(*id) {
                    return invalid(format!("{id} is already a member or not a valid id"));
                }
                if self.conf.removed.contains(id) {
                    return invalid(format!("id {id} was removed earlier and may not be reused"));
                }
            }
            ConfChange::Promote(id) => {
                if !self.conf.learners.contains(id) {
                    return invalid(format!("{id} is not a learner"));
                }
                let matched = self.progress.get(id).map_or(0, |p| p.matched);
                if matched + self.cfg.promote_max_lag < self.log.last_index() {
                    return invalid(format!(
                        "learner {id} has not caught up (match {matched}, last index {})",
                        self.log.last_index()
                    ));
                }
            }
            ConfChange::Remove(id) => {
                if !self.conf.is_member(*id) {
                    return invalid(format!("{id} is not a member"));
                }
                if self.conf.voters.contains(id) && self.conf.voters.len() == 1 {
                    return invalid("cannot remove the last voter".into());
                }
            }
            ConfChange::Reset(_) => return invalid("a reset is an operator action: use reset_peers".into()),
        }
        let index = self.append_entry(Payload::ConfChange(change));
        self.pending_conf_index = index;
        Ok(index)
    }

    /// Moves the commit index and applies the membership changes it covers.
    pub(crate) fn commit_to(&mut self, index: u64) -> bool {
        let old = self.log.committed;
        if !self.log.commit_to(index) {
            return false;
        }
        for i in old + 1..=index {
            if let Some(Payload::ConfChange(cc)) = self.log.entry(i).map(|e| e.payload.clone()) {
                self.apply_conf_change(i, &cc);
            }
        }
        self.release_reads_before_own_term();
        true
    }

    fn apply_conf_change(&mut self, index: u64, change: &ConfChange) {
        self.conf.apply(change);
        self.conf_history.push((index, self.conf.clone()));
        if self.role != Role::Leader {
            return;
        }
        let next = self.log.last_index() + 1;
        let members: BTreeSet<NodeId> = self.conf.members().collect();
        self.progress.retain(|id, _| members.contains(id));
        for id in members {
            let inflights = Inflights::new(self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
            self.progress.entry(id).or_insert_with(|| Progress::new(next, inflights));
        }
        if self.lead_transferee != NO_NODE && !self.conf.voters.contains(&self.lead_transferee) {
            self.abort_transfer();
        }
        if !self.conf.voters.contains(&self.cfg.id) {
            self.step_down_after_removal();
        } else {
            self.maybe_commit();
        }
    }

    /// We committed our own removal: tell the others it is committed, hand
    /// the leadership to the most caught-up voter, and step down.
    fn step_down_after_removal(&mut self) {
        self.bcast_append(true);
        let last = self.log.last_index();
        let successor = self
            .conf
            .voters
            .iter()
            .filter_map(|v| self.progress.get(v).map(|p| (p.matched, *v)))
            .max()
            .filter(|(matched, _)| *matched == last);
        if let Some((_, to)) = successor {
            self.send_timeout_now(to);
        }
        self.events.push(Event::SteppedDown { reason: "removed from the membership" });
        self.become_follower(self.term, NO_NODE);
    }

    /// Hands leadership to `target`: catch it up, then tell it to campaign at
    /// once. Proposals are refused meanwhile; the transfer is abandoned after
    /// an election timeout.
    pub fn transfer_leader(&mut self, target: NodeId) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader: self.leader });
        }
        if target == self.cfg.id || target == self.lead_transferee {
            return Ok(());
        }
        if !self.conf.voters.contains(&target) {
            return Err(ProposeError::InvalidConfChange(format!("{target} is not a voter")));
        }
        self.lead_transferee = target;
        self.transfer_elapsed = 0;
        if self.progress.get(&target).is_some_and(|p| p.matched == self.log.last_index()) {
            self.send_timeout_now(target);
        } else {
            self.send_append(target, true);
        }
        Ok(())
    }

    pub(crate) fn send_timeout_now(&mut self, to: NodeId) {
        if !self.cfg.has_bug(UnsafeBug::StaleLeaseRead) {
            self.lease_revoked = true;
        }
        self.send(to, MessageBody::TimeoutNow);
    }

    pub(crate) fn abort_transfer(&mut self) {
        self.lead_transferee = NO_NODE;
        self.transfer_elapsed = 0;
    }

    /// Starts an election now (if this node is a voter), as if its election
    /// timeout had passed.
    pub fn campaign_now(&mut self) {
        if self.role != Role::Leader {
            self.campaign(false);
        }
    }

    /// Operator recovery for a cluster that lost its majority for good: adopt
    /// `voters` as the whole membership. Entries committed by the lost
    /// majority alone may be lost; this is never done automatically. When
    /// this node next becomes leader, it writes the new membership to the log
    /// so the other survivors adopt it too.
    pub fn reset_peers(&mut self, voters: BTreeSet<NodeId>) -> Result<(), ProposeError> {
        if !voters.contains(&self.cfg.id) {
            return Err(ProposeError::InvalidConfChange("the reset membership must include this node".into()));
        }
        self.conf.apply(&ConfChange::Reset(voters.clone()));
        self.conf_history.push((self.log.last_index(), self.conf.clone()));
        self.events.push(Event::PeersReset { voters: voters.iter().copied().collect() });
        self.reset_to = Some(voters);
        self.become_follower(self.term, NO_NODE);
        // The operator declared the old majority gone: there is no lease to
        // wait out before voting.
        self.leader_quiet_ticks = u64::from(self.cfg.election_tick);
        Ok(())
    }

    /// The membership in force at `index`.
    fn conf_at(&self, index: u64) -> ConfState {
        let at = self.conf_history.partition_point(|(i, _)| *i <= index);
        self.conf_history[at.saturating_sub(1)].1.clone()
    }

    /// The driver has durably saved a snapshot of its state machine at
    /// `index` (at most the applied index): drop the log it covers.
    pub fn compact(&mut self, index: u64, data: Bytes) -> Result<(), CompactError> {
        if index > self.log.applied {
            return Err(CompactError::NotApplied { index, applied: self.log.applied });
        }
        if index <= self.log.snapshot().meta.index {
            return Ok(());
        }
        let term = self.log.term(index).expect("applied entries after the snapshot are in the log");
        let conf = self.conf_at(index);
        let keep_from = self.conf_history.partition_point(|(i, _)| *i <= index).saturating_sub(1);
        self.conf_history.drain(..keep_from);
        self.log.compact(Snapshot { meta: SnapshotMeta { index, term, conf }, data });
        Ok(())
    }

    /// The latest snapshot: the bootstrap state, the last compaction, or the
    /// last one installed from the leader.
    pub fn snapshot(&self) -> &Snapshot {
        self.log.snapshot()
    }
}
