//! Configuration of one node's core, checked once at construction.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::types::{NO_NODE, NodeId};

#[derive(Clone, Debug)]
pub struct Config {
    pub id: NodeId,
    /// Ticks without hearing from a leader before a follower campaigns; the
    /// actual timeout is drawn from `[election_tick, 2 * election_tick)`.
    pub election_tick: u32,
    /// Ticks between a leader's heartbeat rounds.
    pub heartbeat_tick: u32,
    /// Seeds the election-timeout randomness: the same seed and inputs give
    /// the same behaviour, which is what the simulation relies on.
    pub seed: u64,
    /// Campaign only after a pre-vote round shows a quorum would vote, so a
    /// partitioned node that rejoins cannot depose a healthy leader.
    pub pre_vote: bool,
    /// A leader that heard from no quorum within an election timeout steps down.
    pub check_quorum: bool,
    /// Bound on the bytes of entries in one Append message.
    pub max_msg_bytes: usize,
    /// Bound on the entries in one Append message.
    pub max_msg_entries: usize,
    /// In-flight window per follower in Replicate state: messages and bytes.
    pub max_inflight_msgs: usize,
    pub max_inflight_bytes: usize,
    /// The largest clock-rate difference between any two nodes, as a fraction
    /// (0.1 = one clock may run 10% faster than another). Shortens the lease.
    pub max_clock_drift: f64,
    /// Bytes of snapshot data per SnapshotChunk message.
    pub snapshot_chunk_bytes: usize,
    /// A leader refuses new proposals while this many entries are appended
    /// but not committed, so a leader that cannot reach a quorum does not
    /// pile up a log its followers will take long to catch up with.
    pub max_uncommitted_entries: u64,
    /// A learner may be promoted only when it is at most this many entries
    /// behind the leader's last index.
    pub promote_max_lag: u64,
    /// Deliberate bugs for proving the checkers work. Never enable in production.
    pub unsafe_bugs: BTreeSet<UnsafeBug>,
}

impl Config {
    pub fn new(id: NodeId) -> Self {
        Config {
            id,
            election_tick: 10,
            heartbeat_tick: 2,
            seed: id,
            pre_vote: true,
            check_quorum: true,
            max_msg_bytes: 1 << 20,
            max_msg_entries: 4096,
            max_inflight_msgs: 256,
            max_inflight_bytes: 32 << 20,
            max_clock_drift: 0.1,
            snapshot_chunk_bytes: 1 << 20,
            max_uncommitted_entries: 8192,
            promote_max_lag: 1000,
            unsafe_bugs: BTreeSet::new(),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |why: &str| Err(ConfigError(why.to_string()));
        if self.id == NO_NODE {
            return bad("id must not be 0");
        }
        if self.heartbeat_tick == 0 {
            return bad("heartbeat_tick must be at least 1");
        }
        if self.election_tick <= self.heartbeat_tick {
            return bad("election_tick must be greater than heartbeat_tick");
        }
        if self.max_msg_entries == 0 || self.max_inflight_msgs == 0 || self.snapshot_chunk_bytes == 0 {
            return bad("message, in-flight and chunk limits must be positive");
        }
        if !(0.0..0.5).contains(&self.max_clock_drift) {
            return bad("max_clock_drift must be in [0, 0.5)");
        }
        if self.lease_ticks() == 0 && !self.has_bug(UnsafeBug::StaleLeaseRead) {
            return bad("election_tick is too short to leave any lease after the drift margin");
        }
        Ok(())
    }

    pub fn has_bug(&self, bug: UnsafeBug) -> bool {
        self.unsafe_bugs.contains(&bug)
    }

    /// How long, in the leader's ticks from a heartbeat round's send time, a
    /// quorum's acks of that round keep the lease.
    ///
    /// A voter that acked the round refuses other candidates until it has
    /// counted `election_tick` of its own ticks since receiving it; a tick may
    /// fall just after the receipt, so that is at least `election_tick - 1` of
    /// its tick periods. The leader's own count may be one tick short of the
    /// real time elapsed, and its ticks may be slower by `max_clock_drift`.
    pub fn lease_ticks(&self) -> u64 {
        if self.has_bug(UnsafeBug::StaleLeaseRead) {
            return u64::from(self.election_tick);
        }
        let safe = (f64::from(self.election_tick) - 1.0) * (1.0 - self.max_clock_drift) - 1.0;
        if safe < 1.0 { 0 } else { safe.floor() as u64 }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid raft config: {0}")]
pub struct ConfigError(pub String);

/// Bugs planted on purpose, so that the simulation and the chaos suite can show
/// they catch them. Each breaks exactly one rule of Raft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnsafeBug {
    /// The lease has no clock-drift margin and survives a leader transfer.
    StaleLeaseRead,
    /// A follower acknowledges entries before they are durable.
    AckBeforePersist,
    /// A leader counts its own entries toward commit before they are durable.
    LeaderSelfAck,
    /// The vote is not persisted, so a restarted node can vote twice in a term.
    ForgetVote,
    /// Entries of earlier terms are committed by counting replicas (Raft §5.4.2).
    CommitOldTerm,
    /// The node's storage takes a failed fsync for a durable one and lets
    /// the batch be acknowledged (the core never sees it: node-level).
    IgnoreFsyncError,
    /// The node's storage saves a snapshot it installed from the leader but
    /// does not record in its log that the log now ends there (node-level).
    ForgetSnapshotInstall,
}

impl UnsafeBug {
    pub const ALL: [UnsafeBug; 7] = [
        UnsafeBug::StaleLeaseRead,
        UnsafeBug::AckBeforePersist,
        UnsafeBug::LeaderSelfAck,
        UnsafeBug::ForgetVote,
        UnsafeBug::CommitOldTerm,
        UnsafeBug::IgnoreFsyncError,
        UnsafeBug::ForgetSnapshotInstall,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnsafeBug::StaleLeaseRead => "stale-lease-read",
            UnsafeBug::AckBeforePersist => "ack-before-persist",
            UnsafeBug::LeaderSelfAck => "leader-self-ack",
            UnsafeBug::ForgetVote => "forget-vote",
            UnsafeBug::CommitOldTerm => "commit-old-term",
            UnsafeBug::IgnoreFsyncError => "ignore-fsync-error",
            UnsafeBug::ForgetSnapshotInstall => "forget-snapshot-install",
        }
    }

    /// Planted in the node's storage, which the core (and the simulation)
    /// never sees.
    pub fn in_node_storage(self) -> bool {
        matches!(self, UnsafeBug::IgnoreFsyncError | UnsafeBug::ForgetSnapshotInstall)
    }
}

impl fmt::Display for UnsafeBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UnsafeBug {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        UnsafeBug::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<&str> = UnsafeBug::ALL.iter().map(|b| b.name()).collect();
            format!("unknown bug {s:?}; known: {}", names.join(", "))
        })
    }
}
