//! What the leader knows of each member's log, and how it sends to it.
//!
//! ```text
//!            reject / unreachable           ack of the probe
//!   Replicate ─────────────────────► Probe ─────────────────► Replicate
//!       ▲                              │  next is compacted away
//!       │                              ▼
//!       └──── installed ─── Probe ◄── Snapshot
//! ```
//! - Probe: one Append at a time, waiting for its answer (or a heartbeat
//!   answer) before the next, while the leader looks for where logs agree.
//! - Replicate: Appends stream without waiting, up to the in-flight window.
//! - Snapshot: the follower needs entries the leader compacted; chunks of the
//!   leader's snapshot go one at a time until it is installed.

use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    Probe,
    Replicate,
    Snapshot,
}

/// Invariant: `matched < next`.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Highest index known to be durably shared with the leader.
    pub matched: u64,
    /// Next index to send.
    pub next: u64,
    pub state: ProgressState,
    /// Probe: an Append is out and unanswered.
    pub probe_sent: bool,
    /// Snapshot: the index of the snapshot being sent, and the bytes the
    /// follower has confirmed.
    pub snapshot_index: u64,
    pub snapshot_received: u64,
    /// Heard from since the last check-quorum round.
    pub recent_active: bool,
    /// Highest heartbeat round the member has echoed.
    pub acked_round: u64,
    pub inflights: Inflights,
}

impl Progress {
    pub fn new(next: u64, inflights: Inflights) -> Self {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            snapshot_index: 0,
            snapshot_received: 0,
            recent_active: false,
            acked_round: 0,
            inflights,
        }
    }

    pub fn become_probe(&mut self) {
        let next = match self.state {
            ProgressState::Snapshot => (self.matched + 1).max(self.snapshot_index + 1),
            _ => self.matched + 1,
        };
        self.reset(ProgressState::Probe);
        self.next = next;
    }

    pub fn become_replicate(&mut self) {
        self.reset(ProgressState::Replicate);
        self.next = self.matched + 1;
    }

    pub fn become_snapshot(&mut self, snapshot_index: u64) {
        self.reset(ProgressState::Snapshot);
        self.snapshot_index = snapshot_index;
    }

    fn reset(&mut self, state: ProgressState) {
        self.state = state;
        self.probe_sent = false;
        self.snapshot_index = 0;
        self.snapshot_received = 0;
        self.inflights.clear();
    }

    /// An acknowledgement of `index`; false when it tells nothing new.
    pub fn maybe_update(&mut self, index: u64) -> bool {
        let updated = index > self.matched;
        if updated {
            self.matched = index;
            self.probe_sent = false;
        }
        self.next = self.next.max(index + 1);
        updated
    }

    /// A rejection of the Append whose prev was `rejected`; `hint_next` is where
    /// the logs may first agree plus one. False when the rejection is stale.
    pub fn maybe_decrease_to(&mut self, rejected: u64, hint_next: u64) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        if self.next != rejected + 1 {
            return false;
        }
        self.next = hint_next.min(rejected).max(self.matched + 1);
        self.probe_sent = false;
        true
    }

    /// Records an Append ending at `last` just sent.
    pub fn sent_entries(&mut self, last: u64, bytes: usize) {
        match self.state {
            ProgressState::Replicate => {
                if last >= self.next {
                    self.next = last + 1;
                    self.inflights.add(last, bytes);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => unreachable!("no Append is sent while a snapshot is in flight"),
        }
    }

    /// Whether the leader must hold further Appends to this member.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.is_full(),
            ProgressState::Snapshot => true,
        }
    }
}

/// The Appends sent in Replicate state and not yet acknowledged, bounded by
/// count and bytes: a ring of (last index, bytes), oldest first.
#[derive(Clone, Debug)]
pub struct Inflights {
    queue: VecDeque<(u64, usize)>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl Inflights {
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        Inflights { queue: VecDeque::with_capacity(max_count.min(64)), bytes: 0, max_count, max_bytes }
    }

    pub fn add(&mut self, last: u64, bytes: usize) {
        self.queue.push_back((last, bytes));
        self.bytes += bytes;
    }

    /// Frees every Append ending at or before `index`.
    pub fn free_to(&mut self, index: u64) {
        while let Some(&(last, bytes)) = self.queue.front() {
            if last > index {
                break;
            }
            self.queue.pop_front();
            self.bytes -= bytes;
        }
    }

    /// Frees the oldest Append, so that a stalled window can send again and
    /// find out from the follower's answer whether messages were lost.
    pub fn free_first(&mut self) {
        if let Some((_, bytes)) = self.queue.pop_front() {
            self.bytes -= bytes;
        }
    }

    pub fn is_full(&self) -> bool {
        self.queue.len() >= self.max_count || (self.max_bytes > 0 && self.bytes >= self.max_bytes)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflights_fill_by_count_or_bytes_and_free_in_order() {
        let mut inf = Inflights::new(3, 100);
        inf.add(5, 10);
        inf.add(9, 10);
        assert!(!inf.is_full());
        inf.add(12, 10);
        assert!(inf.is_full(), "full by count");
        inf.free_to(9);
        assert_eq!(inf.len(), 1);
        inf.add(20, 95);
        assert!(inf.is_full(), "full by bytes");
        inf.free_first();
        assert!(!inf.is_full());
    }

    #[test]
    fn probe_sends_one_at_a_time_and_backs_off_on_reject() {
        let mut pr = Progress::new(11, Inflights::new(4, 0));
        pr.sent_entries(15, 0);
        assert!(pr.is_paused());
        assert!(!pr.maybe_decrease_to(12, 5), "a reject for another prev is stale");
        assert!(pr.maybe_decrease_to(10, 5));
        assert_eq!(pr.next, 5);
        assert!(!pr.is_paused());
    }

    #[test]
    fn replicate_streams_and_falls_back_to_match_on_reject() {
        let mut pr = Progress::new(1, Inflights::new(4, 0));
        pr.maybe_update(10);
        pr.become_replicate();
        pr.sent_entries(20, 1);
        pr.sent_entries(30, 1);
        assert_eq!(pr.next, 31);
        assert!(!pr.maybe_decrease_to(10, 3), "rejects at or below match are stale");
        assert!(pr.maybe_decrease_to(20, 3));
        assert_eq!(pr.next, 11);
    }
}
