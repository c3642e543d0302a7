//! A simulated node: the core, a disk that loses what is not yet durable
//! when the node crashes, and a state machine that is a digest of what it
//! applied.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::raft::{Durable, Raft};
use crate::sim::invariants::chain;
use crate::types::{Entry, HardState, Message, Snapshot};

/// What has reached the platter; and, in `cache`, writes that needed no
/// sync, which only the next synced write takes to the platter.
#[derive(Default)]
pub struct Disk {
    pub hard_state: HardState,
    pub snapshot: Snapshot,
    pub entries: Vec<Entry>,
    cache: Vec<PendingWrite>,
}

impl Disk {
    pub fn new(hard_state: HardState, snapshot: Snapshot, entries: Vec<Entry>) -> Disk {
        Disk { hard_state, snapshot, entries, cache: Vec::new() }
    }

    fn write(&mut self, w: PendingWrite) {
        if !w.sync {
            self.cache.push(w);
            return;
        }
        self.sync_cache();
        self.write_through(w);
    }

    /// The next synced record carries what waited for it.
    fn sync_cache(&mut self) {
        for cached in std::mem::take(&mut self.cache) {
            self.write_through(cached);
        }
    }

    fn write_through(&mut self, w: PendingWrite) {
        if let Some(s) = w.snapshot {
            self.entries.clear();
            self.snapshot = s;
        }
        let floor = self.snapshot.meta.index;
        let new: Vec<Entry> = w.entries.into_iter().filter(|e| e.index > floor).collect();
        if let Some(first) = new.first() {
            self.entries.retain(|e| e.index < first.index);
            let expected = self.entries.last().map_or(floor, |e| e.index) + 1;
            assert_eq!(first.index, expected, "the simulated disk got a write with a gap");
            self.entries.extend(new);
        }
        if let Some(hs) = w.hard_state {
            self.hard_state = hs;
        }
    }

    /// A crash: what waited for a sync is lost.
    fn lose_unsynced(&mut self) {
        self.cache.clear();
    }

    /// On the platter: what a restart after a machine crash finds, and what
    /// the checks of durability count.
    pub fn holds(&self, index: u64, term: u64) -> bool {
        if index <= self.snapshot.meta.index {
            return true;
        }
        let first = self.snapshot.meta.index + 1;
        self.entries.get((index - first) as usize).is_some_and(|e| e.term == term)
    }

    /// The driver saved a snapshot: the entries it covers are gone. The
    /// node's WAL writes what waits first, as it records the compaction.
    pub fn compact(&mut self, snapshot: Snapshot) {
        self.sync_cache();
        let index = snapshot.meta.index;
        self.entries.retain(|e| e.index > index);
        self.snapshot = snapshot;
    }
}

pub struct PendingWrite {
    pub number: u64,
    pub hard_state: Option<HardState>,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    pub then_send: Vec<Message>,
    /// The core's `must_sync`.
    pub sync: bool,
}

/// The state machine: how far it applied and a digest of the sequence.
#[derive(Clone, Copy, Default)]
pub struct StateMachine {
    pub applied: u64,
    pub digest: u64,
}

/// Bytes of padding in every snapshot, so that sending one takes several chunks.
const SNAPSHOT_PADDING: usize = 2500;

impl StateMachine {
    pub fn apply(&mut self, entry: &Entry) {
        self.digest = chain(self.digest, entry);
        self.applied = entry.index;
    }

    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(16 + SNAPSHOT_PADDING);
        out.extend_from_slice(&self.applied.to_le_bytes());
        out.extend_from_slice(&self.digest.to_le_bytes());
        out.extend((0..SNAPSHOT_PADDING).map(|i| (i % 251) as u8));
        out.into()
    }

    pub fn decode(data: &[u8]) -> StateMachine {
        if data.is_empty() {
            return StateMachine::default();
        }
        let word = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().expect("snapshot holds two words"));
        StateMachine { applied: word(0), digest: word(8) }
    }
}

pub struct SimNode {
    pub raft: Option<Raft>,
    pub disk: Disk,
    pub pending: VecDeque<PendingWrite>,
    /// A batch of writes is on its way to the platter.
    pub disk_busy: bool,
    pub sm: StateMachine,
    /// Bumped at every crash, so that ticks and disk completions scheduled
    /// for an earlier life are ignored.
    pub incarnation: u64,
    /// Length of one tick of this node's clock, in simulated time units.
    pub tick_period: u64,
    /// The commit index this node had as leader at its last Ready (MAX when
    /// it was not leader): a leader's commit must move onto its own term.
    pub leader_commit_seen: u64,
}

impl SimNode {
    pub fn new(raft: Raft, disk: Disk, tick_period: u64) -> Self {
        SimNode {
            raft: Some(raft),
            disk,
            pending: VecDeque::new(),
            disk_busy: false,
            sm: StateMachine::default(),
            incarnation: 0,
            tick_period,
            leader_commit_seen: u64::MAX,
        }
    }

    pub fn is_up(&self) -> bool {
        self.raft.is_some()
    }

    /// Everything not yet durable is lost; so are the messages waiting on it.
    pub fn crash(&mut self) {
        self.raft = None;
        self.pending.clear();
        self.disk.lose_unsynced();
        self.disk_busy = false;
        self.incarnation += 1;
    }

    pub fn durable(&self) -> Durable {
        Durable {
            hard_state: self.disk.hard_state,
            snapshot: self.disk.snapshot.clone(),
            entries: self.disk.entries.clone(),
        }
    }

    /// Makes writes up to `number` durable; returns the messages they held back.
    pub fn complete_writes(&mut self, number: u64) -> Vec<Message> {
        let mut release = Vec::new();
        while self.pending.front().is_some_and(|w| w.number <= number) {
            let mut w = self.pending.pop_front().expect("checked above");
            release.append(&mut w.then_send);
            self.disk.write(w);
        }
        release
    }
}
