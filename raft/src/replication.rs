//! Log replication (Raft §5.3): the leader's side with its per-follower
//! progress, and the follower's side that acknowledges only durable entries.

use bytes::Bytes;

use crate::config::UnsafeBug;
use crate::progress::ProgressState;
use crate::quorum::majority_value;
use crate::raft::{Raft, Role};
use crate::types::{Message, MessageBody, NodeId, RejectHint, Snapshot, SnapshotMeta};

impl Raft {
    /// Sends `to` what it lacks, as far as its progress state allows. Returns
    /// whether a message went out. With `allow_empty`, an Append without
    /// entries is sent too (to carry the commit index or to probe).
    pub(crate) fn send_append(&mut self, to: NodeId, allow_empty: bool) -> bool {
        let Some(pr) = self.progress.get(&to) else { return false };
        if pr.is_paused() {
            return false;
        }
        let prev_index = pr.next - 1;
        let prev_term = self.log.term(prev_index);
        let entries = self.log.entries_from(pr.next, self.cfg.max_msg_entries, self.cfg.max_msg_bytes);
        let (Some(prev_term), Some(entries)) = (prev_term, entries) else {
            self.send_snapshot_chunk(to);
            return true;
        };
        if entries.is_empty() && !allow_empty {
            return false;
        }
        let last = prev_index + entries.len() as u64;
        let bytes: usize = entries.iter().map(|e| e.payload.size()).sum();
        let pr = self.progress.get_mut(&to).expect("checked above");
        pr.sent_entries(last, bytes);
        let commit = self.log.committed;
        self.send(to, MessageBody::Append { prev_index, prev_term, entries, commit });
        true
    }

    /// Sends as many Appends to `to` as its window allows.
    pub(crate) fn send_appends(&mut self, to: NodeId) {
        while self.send_append(to, false) {
            if self.progress.get(&to).is_none_or(|p| p.state != ProgressState::Replicate) {
                break;
            }
        }
    }

    pub(crate) fn bcast_append(&mut self, allow_empty: bool) {
        let others: Vec<NodeId> = self.progress.keys().copied().filter(|&id| id != self.cfg.id).collect();
        for to in others {
            self.send_append(to, allow_empty);
            self.send_appends(to);
        }
        self.commit_sent = self.log.committed;
    }

    pub(crate) fn bcast_heartbeat(&mut self) {
        self.round += 1;
        self.round_sent_at.insert(self.round, self.now);
        let others: Vec<(NodeId, u64)> =
            self.progress.iter().filter(|(id, _)| **id != self.cfg.id).map(|(id, p)| (*id, p.matched)).collect();
        for (to, matched) in others {
            // Never past what the follower is known to hold: its log beyond
            // that may still be a stale suffix that must not be committed.
            let commit = matched.min(self.log.committed);
            self.send(to, MessageBody::Heartbeat { commit, round: self.round });
        }
        self.need_read_round = false;
        self.advance_reads();
    }

    fn send_snapshot_chunk(&mut self, to: NodeId) {
        let snapshot: &Snapshot = self.log.snapshot();
        let meta: SnapshotMeta = snapshot.meta.clone();
        let data: Bytes = snapshot.data.clone();
        let chunk_bytes = self.cfg.snapshot_chunk_bytes;
        let pr = self.progress.get_mut(&to).expect("sending only to tracked members");
        if pr.state != ProgressState::Snapshot || pr.snapshot_index != meta.index {
            pr.become_snapshot(meta.index);
        }
        let offset = (pr.snapshot_received as usize).min(data.len());
        let end = (offset + chunk_bytes).min(data.len());
        let total_len = data.len() as u64;
        self.send(
            to,
            MessageBody::SnapshotChunk { meta, total_len, offset: offset as u64, data: data.slice(offset..end) },
        );
    }

    /// Moves the commit index to what a quorum holds, if that entry is of our
    /// term (Raft §5.4.2). Returns whether it moved.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let candidate = majority_value(&self.conf.voters, |id| self.progress.get(&id).map_or(0, |p| p.matched));
        if candidate <= self.log.committed {
            return false;
        }
        if self.log.term(candidate) != Some(self.term) && !self.cfg.has_bug(UnsafeBug::CommitOldTerm) {
            return false;
        }
        self.commit_to(candidate);
        true
    }

    pub(crate) fn handle_append_resp(&mut self, from: NodeId, index: u64, reject: Option<RejectHint>) {
        if !self.progress.contains_key(&from) {
            return;
        }
        if let Some(hint) = reject {
            let next_probe =
                if hint.term > 0 { self.log.find_conflict_by_term(hint.index, hint.term).index } else { hint.index };
            let pr = self.progress.get_mut(&from).expect("checked above");
            if pr.maybe_decrease_to(index, next_probe + 1) {
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
                self.send_append(from, true);
            }
            return;
        }
        if index > self.log.last_index() {
            // A follower's acknowledged prefix is ours (it took it from us,
            // or it was committed, and a leader holds every committed entry).
            let last = self.log.last_index();
            self.lost_commits.get_or_insert(crate::raft::LostCommits::AckedBeyondLog { follower: from, index, last });
            return;
        }
        let Some(pr) = self.progress.get_mut(&from) else { return };
        if !pr.maybe_update(index) {
            return;
        }
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot if pr.matched >= pr.snapshot_index => {
                pr.become_probe();
                pr.become_replicate();
            }
            ProgressState::Snapshot => {}
            ProgressState::Replicate => pr.inflights.free_to(index),
        }
        if self.maybe_commit() {
            self.need_bcast = true;
        }
        if self.role != Role::Leader {
            return;
        }
        if from == self.lead_transferee && self.progress.get(&from).is_some_and(|p| p.matched == self.log.last_index())
        {
            self.send_timeout_now(from);
        }
        self.send_appends(from);
    }

    pub(crate) fn handle_heartbeat_resp(&mut self, from: NodeId, round: u64) {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.acked_round = pr.acked_round.max(round);
        pr.probe_sent = false;
        match pr.state {
            ProgressState::Snapshot => self.send_snapshot_chunk(from),
            ProgressState::Replicate | ProgressState::Probe if pr.matched < last => {
                // Appends or their acks may have been lost: let one more
                // message through, which the follower either accepts or
                // rejects, and either way tells us where it stands.
                if pr.inflights.is_full() {
                    pr.inflights.free_first();
                }
                self.send_append(from, true);
            }
            _ => {}
        }
        self.advance_reads();
    }

    pub(crate) fn handle_snapshot_chunk_resp(&mut self, from: NodeId, index: u64, received: u64) {
        let Some(pr) = self.progress.get_mut(&from) else { return };
        if pr.state != ProgressState::Snapshot || pr.snapshot_index != index {
            return;
        }
        pr.snapshot_received = received;
        if received < self.log.snapshot().data.len() as u64 {
            self.send_snapshot_chunk(from);
        }
    }

    // ----- follower side -----

    pub(crate) fn handle_from_leader(&mut self, m: Message) {
        match m.body {
            MessageBody::Append { prev_index, prev_term, entries, commit } => {
                self.handle_append(m.from, prev_index, prev_term, &entries, commit)
            }
            MessageBody::Heartbeat { commit, round } => {
                self.commit_to(commit.min(self.log.last_index()));
                self.send(m.from, MessageBody::HeartbeatResp { round });
            }
            MessageBody::SnapshotChunk { meta, total_len, offset, data } => {
                self.handle_snapshot_chunk(m.from, meta, total_len, offset, data)
            }
            _ => unreachable!("only leader messages come here"),
        }
    }

    fn handle_append(
        &mut self,
        leader: NodeId,
        prev_index: u64,
        prev_term: u64,
        entries: &[crate::types::Entry],
        commit: u64,
    ) {
        if matches!(self.lost_commits, Some(crate::raft::LostCommits::Contradicted { .. })) {
            return;
        }
        if prev_index < self.log.committed {
            // Everything up to our commit index must be the leader's log too;
            // where it is not, acknowledging would hide lost writes.
            if let Some(lost) = self.disagreement_with_committed(leader, prev_index, prev_term, entries) {
                self.lost_commits = Some(lost);
                return;
            }
            self.ack_leader(true);
            return;
        }
        match self.log.maybe_append(prev_index, prev_term, entries) {
            Some(last_new) => {
                self.verified_match = self.verified_match.max(last_new);
                self.commit_to(commit.min(last_new));
                if self.cfg.has_bug(UnsafeBug::AckBeforePersist) {
                    self.send(leader, MessageBody::AppendResp { index: last_new, reject: None });
                } else if self.ack_index() >= last_new {
                    self.ack_leader(true);
                }
            }
            None => {
                let hint = self.log.find_conflict_by_term(prev_index.min(self.log.last_index()), prev_term);
                self.send(leader, MessageBody::AppendResp { index: prev_index, reject: Some(hint) });
            }
        }
    }

    /// The first position at or below our commit index where the leader's
    /// log (as this Append shows it) has another term than ours. Positions
    /// we compacted away cannot be compared and are skipped.
    fn disagreement_with_committed(
        &self,
        leader: NodeId,
        prev_index: u64,
        prev_term: u64,
        entries: &[crate::types::Entry],
    ) -> Option<crate::raft::LostCommits> {
        let committed = self.log.committed;
        std::iter::once((prev_index, prev_term))
            .chain(entries.iter().map(|e| (e.index, e.term)))
            .take_while(|&(index, _)| index <= committed)
            .find_map(|(index, leader_term)| {
                let ours = self.log.term(index)?;
                (index > 0 && ours != leader_term).then_some(crate::raft::LostCommits::Contradicted {
                    leader,
                    term: self.term,
                    index,
                    our_term: ours,
                    leader_term_at_index: leader_term,
                    committed,
                })
            })
    }

    /// The highest index we may acknowledge: durable here, and known to be
    /// the leader's log (sent by it, or committed).
    fn ack_index(&self) -> u64 {
        self.log.persisted.min(self.verified_match.max(self.log.committed))
    }

    /// Acknowledges what is durable. `again` resends an unchanged ack (the
    /// leader may have lost the last one); otherwise only progress is sent.
    pub(crate) fn ack_leader(&mut self, again: bool) {
        if self.role != Role::Follower || self.leader == crate::types::NO_NODE {
            return;
        }
        let index = self.ack_index();
        if index > self.ack_sent || again {
            self.ack_sent = index;
            let leader = self.leader;
            self.send(leader, MessageBody::AppendResp { index, reject: None });
        }
    }

    fn handle_snapshot_chunk(&mut self, leader: NodeId, meta: SnapshotMeta, total_len: u64, offset: u64, data: Bytes) {
        if meta.index <= self.log.committed {
            self.ack_leader(true);
            return;
        }
        let same = self.incoming_snapshot.as_ref().is_some_and(|(m, _)| m.index == meta.index && m.term == meta.term);
        if !same {
            self.incoming_snapshot = None;
            if offset != 0 {
                self.send(leader, MessageBody::SnapshotChunkResp { index: meta.index, received: 0 });
                return;
            }
            self.incoming_snapshot = Some((meta.clone(), Vec::with_capacity(total_len as usize)));
        }
        let (_, buf) = self.incoming_snapshot.as_mut().expect("set above");
        if offset == buf.len() as u64 {
            buf.extend_from_slice(&data);
        }
        let received = buf.len() as u64;
        if received < total_len {
            self.send(leader, MessageBody::SnapshotChunkResp { index: meta.index, received });
            return;
        }
        let (meta, buf) = self.incoming_snapshot.take().expect("set above");
        self.send(leader, MessageBody::SnapshotChunkResp { index: meta.index, received });
        self.install_snapshot(Snapshot { meta, data: buf.into() });
    }

    fn install_snapshot(&mut self, snapshot: Snapshot) {
        let meta = snapshot.meta.clone();
        self.verified_match = self.verified_match.max(meta.index);
        if self.log.matches(meta.index, meta.term) {
            // Our log already holds the snapshot's last entry: it only tells
            // us that everything up to it is committed.
            self.commit_to(meta.index);
            self.ack_leader(false);
            return;
        }
        self.log.install_snapshot(snapshot);
        self.conf = meta.conf.clone();
        self.conf_history = vec![(meta.index, meta.conf)];
    }
}
