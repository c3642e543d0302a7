//! A Raft consensus core as a pure, deterministic state machine.
//!
//! The core does no I/O, reads no clock, starts no thread and draws no
//! randomness but from the seed in its [`Config`]: the same inputs give the
//! same outputs, which is what lets [`sim`] run a whole cluster in one thread
//! and replay any failure from its seed.
//!
//! # The loop that drives a node
//!
//! ```
//! use raft::{Config, Durable, Raft};
//!
//! // A one-node cluster, freshly bootstrapped.
//! let mut node = Raft::new(Config::new(1), Durable::bootstrap([1])).unwrap();
//! for _ in 0..30 {
//!     // 1. Time passes only when the driver says so.
//!     node.tick();
//!     // 2. Feed in messages from peers with `node.step(msg)`, client commands
//!     //    with `node.propose(data)`, reads with `node.read(ctx, mode)`.
//!     // 3. Take what is due and do it, in the order `Ready` documents:
//!     //    send `messages`, persist `entries` and `hard_state`, send
//!     //    `persisted_messages`, apply `committed_entries`, answer reads.
//!     if node.has_ready() {
//!         let ready = node.ready();
//!         // ... persist and send here ...
//!         // 4. Tell the core once the write is durable.
//!         node.on_persisted(ready.number);
//!     }
//! }
//! assert_eq!(node.role(), raft::Role::Leader);
//! ```
//!
//! The leader hands its new entries to its disk and to its followers in the
//! same Ready, so both proceed in parallel; an entry counts toward commit for
//! the leader only once [`Raft::on_persisted`] says it is durable, and a
//! follower acknowledges only what is durable.
//!
//! # What is implemented
//!
//! Elections with randomized timeouts, pre-vote, check-quorum (a leader
//! stepping down for want of a quorum tells its most caught-up voter to
//! campaign at once) and leader stickiness; pipelined replication with Probe / Replicate / Snapshot
//! progress and an in-flight window by count and bytes; fast back-off on
//! conflicts; batching of proposals; a no-op per term and the current-term
//! commit rule; ReadIndex, lease and follower reads; learners, promotion and
//! single-server membership changes (with the own-term rule), removal of the
//! leader; leader transfer; snapshots sent in chunks and log compaction; and an
//! explicit operator reset of the membership.

mod config;
mod election;
mod log;
mod membership;
mod progress;
mod quorum;
mod raft;
mod read;
mod ready;
mod replication;
mod status;
mod types;

pub mod sim;

pub use config::{Config, ConfigError, UnsafeBug};
pub use membership::{CompactError, ProposeError};
pub use progress::ProgressState;
pub use raft::{Durable, LostCommits, Raft, Role};
pub use read::{ReadError, ReadMode};
pub use ready::{Event, Ready, SoftState};
pub use status::{PeerStatus, Status};
pub use types::{
    ConfChange, ConfState, Entry, HardState, Message, MessageBody, NO_NODE, NodeId, Payload, ReadPath, ReadState,
    RejectHint, Snapshot, SnapshotMeta,
};
