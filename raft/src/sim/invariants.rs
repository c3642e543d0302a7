//! The safety properties checked after every simulated event, against a
//! record of what every node did.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::types::{ConfState, Entry, NodeId, Payload};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invariant {
    /// At most one leader per term (Raft §5.2).
    ElectionSafety,
    /// A node grants at most one vote per term (Raft §5.2).
    VoteOnce,
    /// A leader moves its commit index only onto an entry of its own term
    /// (Raft §5.4.2).
    CurrentTermCommit,
    /// A committed entry is durable on a majority of the voters.
    CommitDurability,
    /// Two logs with an entry of the same index and term agree on it and on
    /// everything before it (§5.3).
    LogMatching,
    /// A new leader's log holds every committed entry (§5.4).
    LeaderCompleteness,
    /// Every node applies a prefix of one single sequence of entries (§5.4.3).
    StateMachineSafety,
    /// A read returns state no older than every write acknowledged before the
    /// read began.
    LinearizableRead,
    /// After every fault heals, a write commits on every member in bounded time.
    Liveness,
    /// The core hit one of its own assertions.
    CorePanic,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Invariant::ElectionSafety => "election-safety",
            Invariant::VoteOnce => "vote-once",
            Invariant::CurrentTermCommit => "current-term-commit",
            Invariant::CommitDurability => "commit-durability",
            Invariant::LogMatching => "log-matching",
            Invariant::LeaderCompleteness => "leader-completeness",
            Invariant::StateMachineSafety => "state-machine-safety",
            Invariant::LinearizableRead => "linearizable-read",
            Invariant::Liveness => "liveness",
            Invariant::CorePanic => "core-panic",
        };
        f.write_str(name)
    }
}

pub type Check = Result<(), (Invariant, String)>;

/// A stable digest of what an entry carries.
pub fn payload_digest(payload: &Payload) -> u64 {
    let mut h = Fnv::default();
    match payload {
        Payload::Noop => h.write(&[0]),
        Payload::Command(data) => {
            h.write(&[1]);
            h.write(data);
        }
        Payload::ConfChange(cc) => {
            h.write(&[2]);
            h.write(format!("{cc:?}").as_bytes());
        }
    }
    h.0
}

/// The state machine's digest after applying `entry` on top of `previous`.
pub fn chain(previous: u64, entry: &Entry) -> u64 {
    let mut h = Fnv(previous);
    h.write(&entry.index.to_le_bytes());
    h.write(&payload_digest(&entry.payload).to_le_bytes());
    h.0
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[derive(Clone, Copy)]
struct Applied {
    term: u64,
    payload: u64,
    state: u64,
}

#[derive(Default)]
pub struct Checker {
    leaders: BTreeMap<u64, NodeId>,
    /// (voter, term) -> the candidate it granted its vote to.
    votes: HashMap<(NodeId, u64), NodeId>,
    /// Voter sets by the index of the entry that set them, from the applied
    /// sequence: what a commit at a given index must be durable on.
    voter_history: Vec<(u64, BTreeSet<NodeId>)>,
    /// (index, term) -> (payload digest, term of the previous entry).
    written: HashMap<(u64, u64), (u64, u64)>,
    /// The one sequence every node must apply a prefix of; index 1 first.
    applied: Vec<Applied>,
    /// (event number, highest index acknowledged to a client by then).
    acks: Vec<(u64, u64)>,
}

impl Checker {
    pub fn leader_elected(&mut self, term: u64, id: NodeId) -> Check {
        match self.leaders.insert(term, id) {
            Some(other) if other != id => {
                Err((Invariant::ElectionSafety, format!("nodes {other} and {id} both became leader of term {term}")))
            }
            _ => Ok(()),
        }
    }

    pub fn vote_granted(&mut self, voter: NodeId, term: u64, candidate: NodeId) -> Check {
        match self.votes.insert((voter, term), candidate) {
            Some(other) if other != candidate => Err((
                Invariant::VoteOnce,
                format!("node {voter} voted for both {other} and {candidate} in term {term}"),
            )),
            _ => Ok(()),
        }
    }

    /// A leader of `term` moved its commit index to `commit`, whose entry is of `entry_term`.
    pub fn leader_committed(&self, id: NodeId, term: u64, commit: u64, entry_term: Option<u64>) -> Check {
        if entry_term != Some(term) {
            return Err((
                Invariant::CurrentTermCommit,
                format!("leader {id} of term {term} committed index {commit} of term {entry_term:?} by counting"),
            ));
        }
        Ok(())
    }

    /// The entry at `index` was applied for the first time: a majority of the
    /// voters under which it may have been committed must hold it durably.
    /// A single-server change lets the leader count with the membership from
    /// before the latest change, so either of the last two qualifies.
    fn check_durable(&self, index: u64, durable_on: &dyn Fn(NodeId) -> bool) -> Check {
        let preceding: Vec<&BTreeSet<NodeId>> =
            self.voter_history.iter().rev().filter(|(i, _)| *i < index).take(2).map(|(_, v)| v).collect();
        let held = |voters: &BTreeSet<NodeId>| voters.iter().filter(|v| durable_on(**v)).count();
        if preceding.is_empty() || preceding.iter().any(|v| crate::quorum::is_majority(v, held(v))) {
            return Ok(());
        }
        let voters = preceding[0];
        let holders: Vec<NodeId> = voters.iter().copied().filter(|v| durable_on(*v)).collect();
        Err((
            Invariant::CommitDurability,
            format!("index {index} was applied while durable only on {holders:?} of voters {voters:?}"),
        ))
    }

    /// The highest index any node has applied: committed, by definition.
    pub fn committed(&self) -> u64 {
        self.applied.len() as u64
    }

    pub fn committed_term(&self, index: u64) -> Option<u64> {
        index.checked_sub(1).and_then(|i| self.applied.get(i as usize)).map(|a| a.term)
    }

    pub fn committed_payload(&self, index: u64) -> Option<u64> {
        index.checked_sub(1).and_then(|i| self.applied.get(i as usize)).map(|a| a.payload)
    }

    pub fn entry_written(&mut self, node: NodeId, entry: &Entry, prev_term: u64) -> Check {
        let digest = payload_digest(&entry.payload);
        let known = *self.written.entry((entry.index, entry.term)).or_insert((digest, prev_term));
        if known != (digest, prev_term) {
            return Err((
                Invariant::LogMatching,
                format!(
                    "node {node} wrote entry {}/{} (payload {digest:x}, previous term {prev_term}) but another \
                     log holds {}/{} with payload {:x}, previous term {}",
                    entry.term, entry.index, entry.term, entry.index, known.0, known.1
                ),
            ));
        }
        Ok(())
    }

    /// Node `node` applied `entry`, reaching state digest `state`;
    /// `durable_on` tells whether a node's disk holds the entry.
    pub fn entry_applied(
        &mut self,
        node: NodeId,
        entry: &Entry,
        state: u64,
        durable_on: &dyn Fn(NodeId) -> bool,
    ) -> Check {
        let payload = payload_digest(&entry.payload);
        let index = entry.index;
        match self.applied.get(index as usize - 1) {
            Some(a) if (a.term, a.payload, a.state) == (entry.term, payload, state) => Ok(()),
            Some(a) => Err((
                Invariant::StateMachineSafety,
                format!(
                    "node {node} applied {}/{index} (state {state:x}) where another node applied {}/{index} \
                     (state {:x})",
                    entry.term, a.term, a.state
                ),
            )),
            None if index == self.committed() + 1 => {
                self.applied.push(Applied { term: entry.term, payload, state });
                self.check_durable(index, durable_on)?;
                if let Payload::ConfChange(cc) = &entry.payload {
                    let mut conf = ConfState {
                        voters: self.voter_history.last().map(|(_, v)| v.clone()).unwrap_or_default(),
                        ..Default::default()
                    };
                    conf.apply(cc);
                    self.voter_history.push((index, conf.voters));
                }
                Ok(())
            }
            None => Err((
                Invariant::StateMachineSafety,
                format!("node {node} applied index {index} while nothing has applied {}", self.committed() + 1),
            )),
        }
    }

    /// Node `node` restored a snapshot of the state at `index`.
    pub fn snapshot_restored(&self, node: NodeId, index: u64, state: u64) -> Check {
        if index == 0 {
            return Ok(());
        }
        match self.applied.get(index as usize - 1) {
            Some(a) if a.state == state => Ok(()),
            Some(a) => Err((
                Invariant::StateMachineSafety,
                format!("node {node} restored state {state:x} at {index}, where the applied state is {:x}", a.state),
            )),
            None => Err((
                Invariant::StateMachineSafety,
                format!("node {node} restored a snapshot at {index}, beyond anything applied"),
            )),
        }
    }

    /// A new leader of `term` whose log has `term_at` for each index must
    /// hold every entry committed in an earlier term. (A leader elected late,
    /// by votes that were delayed, need not hold entries of later terms.)
    pub fn leader_log(
        &self,
        id: NodeId,
        term: u64,
        snapshot_index: u64,
        term_at: impl Fn(u64) -> Option<u64>,
    ) -> Check {
        // Terms along the log never decrease: find the last committed entry
        // of an earlier term.
        let earlier = self.applied.partition_point(|a| a.term < term) as u64;
        if earlier <= snapshot_index {
            return Ok(());
        }
        let expected = self.committed_term(earlier);
        if term_at(earlier) != expected {
            return Err((
                Invariant::LeaderCompleteness,
                format!(
                    "node {id} became leader of term {term} but holds term {:?} at committed index {earlier} \
                     (expected {expected:?})",
                    term_at(earlier)
                ),
            ));
        }
        Ok(())
    }

    pub fn write_acked(&mut self, event: u64, index: u64) {
        let highest = self.acks.last().map_or(0, |&(_, i)| i).max(index);
        self.acks.push((event, highest));
    }

    /// A read invoked at event `invoked` returned the state at index `served`.
    pub fn read_served(&self, node: NodeId, invoked: u64, served: u64, path: &str) -> Check {
        let before = self.acks.partition_point(|&(event, _)| event < invoked);
        let required = before.checked_sub(1).map_or(0, |i| self.acks[i].1);
        if served < required {
            return Err((
                Invariant::LinearizableRead,
                format!(
                    "node {node} served a {path} read at index {served}, but the write at index {required} \
                     was acknowledged before the read began"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn applied(checker: &mut Checker, terms: &[u64]) {
        let mut state = 0;
        for (i, &term) in terms.iter().enumerate() {
            let e = noop(i as u64 + 1, term);
            state = chain(state, &e);
            checker.entry_applied(1, &e, state, &|_| true).unwrap();
        }
    }

    fn noop(index: u64, term: u64) -> Entry {
        Entry { index, term, payload: Payload::Noop }
    }

    #[test]
    fn two_leaders_of_one_term_break_election_safety() {
        let mut checker = Checker::default();
        checker.leader_elected(3, 1).unwrap();
        assert!(checker.leader_elected(3, 1).is_ok(), "the same leader reported twice");
        assert!(checker.leader_elected(4, 2).is_ok(), "another term");
        assert_eq!(checker.leader_elected(3, 2).unwrap_err().0, Invariant::ElectionSafety);
    }

    #[test]
    fn two_logs_that_differ_at_one_index_and_term_break_log_matching() {
        let mut checker = Checker::default();
        let command = |data: &'static [u8]| Entry { index: 5, term: 2, payload: Payload::Command(Bytes::from(data)) };
        checker.entry_written(1, &command(b"x"), 1).unwrap();
        assert!(checker.entry_written(2, &command(b"x"), 1).is_ok(), "the same entry on another log");
        let other_payload = checker.entry_written(2, &command(b"y"), 1).unwrap_err();
        assert_eq!(other_payload.0, Invariant::LogMatching, "{}", other_payload.1);
        let other_history = checker.entry_written(3, &command(b"x"), 2).unwrap_err();
        assert_eq!(other_history.0, Invariant::LogMatching, "{}", other_history.1);
    }

    #[test]
    fn applying_another_entry_or_skipping_one_breaks_state_machine_safety() {
        let mut checker = Checker::default();
        applied(&mut checker, &[1, 1]);
        let second = noop(2, 1);
        let state = chain(chain(0, &noop(1, 1)), &second);
        assert!(checker.entry_applied(2, &second, state, &|_| true).is_ok(), "another node applies the same entry");
        let other_term = noop(2, 2);
        let err = checker.entry_applied(2, &other_term, chain(chain(0, &noop(1, 1)), &other_term), &|_| true);
        assert_eq!(err.unwrap_err().0, Invariant::StateMachineSafety);
        let err = checker.entry_applied(2, &noop(4, 1), state, &|_| true).unwrap_err();
        assert_eq!(err.0, Invariant::StateMachineSafety, "index 3 was skipped: {}", err.1);
        assert!(checker.snapshot_restored(3, 2, state).is_ok());
        assert_eq!(checker.snapshot_restored(3, 2, state ^ 1).unwrap_err().0, Invariant::StateMachineSafety);
        assert_eq!(checker.snapshot_restored(3, 3, state).unwrap_err().0, Invariant::StateMachineSafety);
    }

    #[test]
    fn a_leader_elected_late_need_not_hold_later_terms() {
        let mut checker = Checker::default();
        applied(&mut checker, &[1, 2, 3]);
        let log = |i: u64| [None, Some(1), Some(2)].get(i as usize).copied().flatten();
        assert!(checker.leader_log(2, 2, 0, log).is_ok(), "term 2 needs only entries of term 1");
        assert!(checker.leader_log(2, 3, 0, log).is_ok(), "term 3 needs entries of terms 1 and 2");
        let err = checker.leader_log(2, 4, 0, log).unwrap_err();
        assert_eq!(err.0, Invariant::LeaderCompleteness, "term 4 needs the term-3 entry at index 3");
    }

    #[test]
    fn a_read_older_than_an_acknowledged_write_is_caught() {
        let mut checker = Checker::default();
        checker.write_acked(10, 5);
        assert!(checker.read_served(1, 11, 5, "Lease").is_ok());
        assert!(checker.read_served(1, 10, 4, "Lease").is_ok(), "invoked before the ack: may miss it");
        assert_eq!(checker.read_served(1, 11, 4, "Lease").unwrap_err().0, Invariant::LinearizableRead);
    }
}
