//! Campaigns, pre-votes and the vote rules (Raft §5.2, §5.4.1; thesis §9.6).

use crate::quorum::{VoteResult, tally};
use crate::raft::{Raft, Role};
use crate::types::{Message, MessageBody, NO_NODE, NodeId};

impl Raft {
    /// Starts an election. `transfer` is a campaign asked for by the leader
    /// (TimeoutNow): it skips the pre-vote, and voters honour it even though
    /// they still hear from that leader.
    pub(crate) fn campaign(&mut self, transfer: bool) {
        if !self.is_promotable() {
            return;
        }
        let pre = self.cfg.pre_vote && !transfer;
        let term = if pre {
            self.become_pre_candidate();
            self.term + 1
        } else {
            self.become_candidate();
            self.term
        };
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let voters: Vec<NodeId> = self.conf.voters.iter().copied().filter(|&v| v != self.cfg.id).collect();
        for to in voters {
            let body = if pre {
                MessageBody::PreVote { last_index, last_term }
            } else {
                MessageBody::Vote { last_index, last_term, transfer }
            };
            self.send_with_term(to, term, body);
        }
        let id = self.cfg.id;
        self.record_vote(id, true);
    }

    pub(crate) fn record_vote(&mut self, from: NodeId, granted: bool) {
        self.votes.entry(from).or_insert(granted);
        match tally(&self.conf.voters, &self.votes) {
            VoteResult::Won if self.role == Role::PreCandidate => self.campaign_after_pre_vote(),
            VoteResult::Won => self.become_leader(),
            VoteResult::Lost => self.become_follower(self.term, NO_NODE),
            VoteResult::Pending => {}
        }
    }

    fn campaign_after_pre_vote(&mut self) {
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        self.become_candidate();
        let voters: Vec<NodeId> = self.conf.voters.iter().copied().filter(|&v| v != self.cfg.id).collect();
        for to in voters {
            self.send(to, MessageBody::Vote { last_index, last_term, transfer: false });
        }
        let id = self.cfg.id;
        self.record_vote(id, true);
    }

    /// Answers a Vote or PreVote whose term passed the term rules in `step`.
    pub(crate) fn handle_vote_request(&mut self, m: Message) {
        let (last_index, last_term, pre) = match m.body {
            MessageBody::PreVote { last_index, last_term } => (last_index, last_term, true),
            MessageBody::Vote { last_index, last_term, .. } => (last_index, last_term, false),
            _ => unreachable!("only vote requests come here"),
        };
        let free_to_vote =
            self.vote == m.from || (self.vote == NO_NODE && self.leader == NO_NODE) || (pre && m.term > self.term);
        // A node that knows no membership has no data (a wiped or joining
        // node): its vote could elect a leader missing committed entries.
        let initialized = !self.conf.voters.is_empty();
        let grant = free_to_vote && initialized && self.log.is_up_to_date(last_index, last_term);
        if pre {
            // A grant echoes the candidate's future term so it is not taken
            // for a stale answer; a refusal carries ours.
            let term = if grant { m.term } else { self.term };
            self.send_with_term(m.from, term, MessageBody::PreVoteResp { reject: !grant });
        } else {
            if grant {
                self.election_elapsed = 0;
                self.vote = m.from;
            }
            self.send(m.from, MessageBody::VoteResp { reject: !grant });
        }
    }
}
