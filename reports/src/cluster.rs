//! What the run saw of the cluster, beside the history: `events.jsonl` (each
//! member's own stream of role changes and lease reads) and `cluster.jsonl`
//! (the runner's status polls and every action it took on a member: kills,
//! pauses, restarts, link cuts, membership changes). Both one JSON object a
//! line; times in nanoseconds from the start of the workload.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::summary::NodeId;

/// What a node reported on its admin `Events` stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NodeEvent {
    pub node: NodeId,
    #[serde(default)]
    pub kind: NodeEventKind,
    /// As the node names it: Leader, Follower, Candidate, PreCandidate...
    pub role: String,
    pub term: u64,
    /// Nanoseconds on the run's clock (the nodes share the host's wall clock).
    pub wall_ns: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeEventKind {
    /// The node took `role` in `term` (or, first on a stream, held it).
    #[default]
    Role,
    /// The node served reads from its lease in `term`, the last at `wall_ns`.
    LeaseRead,
}

impl NodeEvent {
    pub fn is_leader(&self) -> bool {
        self.kind == NodeEventKind::Role && self.role == "Leader"
    }
}

/// One line of `cluster.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterEvent {
    /// Nanoseconds from the start of the workload (0 for what came before).
    pub at_ns: u64,
    #[serde(flatten)]
    pub change: ClusterChange,
}

/// What the runner saw or did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ClusterChange {
    /// A status poll answered.
    Status {
        node: NodeId,
        /// leader, follower or other (a candidate, a learner catching up).
        role: String,
        term: u64,
        leader: Option<NodeId>,
        /// The voters and learners it knows of.
        members: Vec<NodeId>,
    },
    /// A status poll went unanswered (within the poll's own time limit).
    NoAnswer {
        node: NodeId,
    },
    Killed {
        node: NodeId,
    },
    Paused {
        node: NodeId,
    },
    Resumed {
        node: NodeId,
    },
    /// Started again on its data (after a kill, a power cut or a stop).
    Restarted {
        node: NodeId,
    },
    /// What `from` sends to `to` is dropped.
    Cut {
        from: NodeId,
        to: NodeId,
    },
    Uncut {
        from: NodeId,
        to: NodeId,
    },
    /// Every cut removed.
    Healed,
    /// A new member was started and joined.
    Joined {
        node: NodeId,
    },
    /// A member was removed from the membership.
    Removed {
        node: NodeId,
    },
}

/// The JSON Schema of one `cluster.jsonl` line, as kept in
/// `reports/cluster.schema.json`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ClusterEvent)).expect("schemas serialize")
}
