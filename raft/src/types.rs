//! The values the core exchanges with its driver: log entries, messages,
//! hard state, snapshots and membership.

use std::collections::BTreeSet;
use std::fmt;

use bytes::Bytes;

/// A node's identity. Zero means "none" and is never a valid id.
pub type NodeId = u64;

/// The id meaning "no node" (no vote cast, no leader known).
pub const NO_NODE: NodeId = 0;

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The empty entry every leader appends at the start of its term, so that it
    /// can commit (Raft §5.4.2 forbids committing older terms by counting).
    Noop,
    /// An application command, opaque to the core.
    Command(Bytes),
    /// A membership change; takes effect on every node when it is applied.
    ConfChange(ConfChange),
}

impl Payload {
    /// Bytes this payload counts for in flow control.
    pub fn size(&self) -> usize {
        match self {
            Payload::Noop => 0,
            Payload::Command(data) => data.len(),
            Payload::ConfChange(ConfChange::Reset(voters)) => 8 * voters.len(),
            Payload::ConfChange(_) => 8,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub payload: Payload,
}

/// A single-server membership change. One may be pending at a time, and a new
/// leader may propose one only after committing an entry of its own term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfChange {
    /// Add a non-voting member that receives the log to catch up.
    AddLearner(NodeId),
    /// Make a caught-up learner a voter.
    Promote(NodeId),
    /// Remove a voter or learner (the leader included). Its id is never reused.
    Remove(NodeId),
    /// Written by a leader elected after an operator's `reset_peers`: replaces
    /// the whole membership, so that every survivor adopts it through the log.
    Reset(BTreeSet<NodeId>),
}

/// The membership at some log index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfState {
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    /// Ids removed in this cluster's life; they may never join again.
    pub removed: BTreeSet<NodeId>,
}

impl ConfState {
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        ConfState { voters: voters.into_iter().collect(), ..Default::default() }
    }

    pub fn is_member(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(self.learners.iter()).copied()
    }

    /// Applies a committed change. Validation happened at proposal time, so this
    /// only records the outcome.
    pub fn apply(&mut self, change: &ConfChange) {
        match change {
            ConfChange::AddLearner(id) => {
                self.learners.insert(*id);
            }
            ConfChange::Promote(id) => {
                self.learners.remove(id);
                self.voters.insert(*id);
            }
            ConfChange::Remove(id) => {
                self.learners.remove(id);
                self.voters.remove(id);
                self.removed.insert(*id);
            }
            ConfChange::Reset(voters) => {
                let dropped: Vec<NodeId> = self.members().filter(|id| !voters.contains(id)).collect();
                self.removed.extend(dropped);
                self.voters = voters.clone();
                self.learners.clear();
            }
        }
    }
}

/// What must survive a crash besides the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub vote: NodeId,
    pub commit: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub index: u64,
    pub term: u64,
    /// Membership as of `index`.
    pub conf: ConfState,
}

/// A state-machine image replacing the log up to `meta.index`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Bytes,
}

/// A message between two nodes. `term` is the sender's term, except for
/// pre-votes, which carry the term the sender would campaign in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: u64,
    pub body: MessageBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    PreVote {
        last_index: u64,
        last_term: u64,
    },
    PreVoteResp {
        reject: bool,
    },
    /// `transfer` marks a campaign started by TimeoutNow: voters grant it even
    /// while they still hear from the current leader, who asked for it.
    Vote {
        last_index: u64,
        last_term: u64,
        transfer: bool,
    },
    VoteResp {
        reject: bool,
    },
    Append {
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    },
    /// On success `index` is the highest index the follower durably shares with
    /// the leader. On reject `index` is the rejected `prev_index` and the hint
    /// lets the leader skip a whole conflicting term at once.
    AppendResp {
        index: u64,
        reject: Option<RejectHint>,
    },
    /// `round` numbers the leader's heartbeat broadcasts; a quorum echoing a
    /// round confirms the leadership as of that round's send time.
    Heartbeat {
        commit: u64,
        round: u64,
    },
    HeartbeatResp {
        round: u64,
    },
    SnapshotChunk {
        meta: SnapshotMeta,
        total_len: u64,
        offset: u64,
        data: Bytes,
    },
    /// The follower holds `received` bytes of the snapshot at `index`.
    SnapshotChunkResp {
        index: u64,
        received: u64,
    },
    TimeoutNow,
    /// A follower forwarding a read to the leader (follower read).
    ReadIndex {
        ctx: u64,
    },
    /// `index` is None when the leader could not serve the read.
    ReadIndexResp {
        ctx: u64,
        index: Option<u64>,
    },
}

/// Where a rejecting follower's log diverges: its last entry at or before the
/// rejected index whose term is at most the leader's `prev_term`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectHint {
    pub index: u64,
    pub term: u64,
}

impl MessageBody {
    pub fn name(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResp { .. } => "PreVoteResp",
            MessageBody::Vote { .. } => "Vote",
            MessageBody::VoteResp { .. } => "VoteResp",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResp { .. } => "AppendResp",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResp { .. } => "HeartbeatResp",
            MessageBody::SnapshotChunk { .. } => "SnapshotChunk",
            MessageBody::SnapshotChunkResp { .. } => "SnapshotChunkResp",
            MessageBody::TimeoutNow => "TimeoutNow",
            MessageBody::ReadIndex { .. } => "ReadIndex",
            MessageBody::ReadIndexResp { .. } => "ReadIndexResp",
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ", self.term, self.index)?;
        match &self.payload {
            Payload::Noop => write!(f, "noop"),
            Payload::Command(data) => write!(f, "cmd({}B)", data.len()),
            Payload::ConfChange(cc) => write!(f, "{cc:?}"),
        }
    }
}

/// A stable one-line form, used in logs and golden files.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{} {} term={}", self.from, self.to, self.body.name(), self.term)?;
        match &self.body {
            MessageBody::PreVote { last_index, last_term } | MessageBody::Vote { last_index, last_term, .. } => {
                write!(f, " last={last_term}/{last_index}")?;
                if let MessageBody::Vote { transfer: true, .. } = self.body {
                    write!(f, " transfer")?;
                }
                Ok(())
            }
            MessageBody::PreVoteResp { reject } | MessageBody::VoteResp { reject } => {
                write!(f, " {}", if *reject { "reject" } else { "grant" })
            }
            MessageBody::Append { prev_index, prev_term, entries, commit } => {
                write!(f, " prev={prev_term}/{prev_index} commit={commit} entries=[")?;
                for (i, e) in entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, "]")
            }
            MessageBody::AppendResp { index, reject: None } => write!(f, " match={index}"),
            MessageBody::AppendResp { index, reject: Some(h) } => {
                write!(f, " reject={index} hint={}/{}", h.term, h.index)
            }
            MessageBody::Heartbeat { commit, round } => write!(f, " commit={commit} round={round}"),
            MessageBody::HeartbeatResp { round } => write!(f, " round={round}"),
            MessageBody::SnapshotChunk { meta, total_len, offset, data } => write!(
                f,
                " snap={}/{} bytes={}..{} of {total_len}",
                meta.term,
                meta.index,
                offset,
                offset + data.len() as u64
            ),
            MessageBody::SnapshotChunkResp { index, received } => write!(f, " snap={index} received={received}"),
            MessageBody::TimeoutNow => Ok(()),
            MessageBody::ReadIndex { ctx } => write!(f, " ctx={ctx}"),
            MessageBody::ReadIndexResp { ctx, index } => write!(f, " ctx={ctx} index={index:?}"),
        }
    }
}

/// How a read was confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadPath {
    Lease,
    ReadIndex,
    /// Asked by a follower, confirmed by the leader.
    Follower,
}

/// The answer to a read: serve it once the state machine has applied `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub ctx: u64,
    pub index: u64,
    pub path: ReadPath,
}
