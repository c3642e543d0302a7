//! The node: the Raft core driven by a dedicated thread, a disk writer thread
//! doing group commit, one outbound gRPC stream per peer, and the client and
//! admin services.
//!
//! ```text
//!  gRPC services ──Input──► driver thread ──WriteJob──► disk thread
//!  peer streams  ──Input──►   (core, kv)  ◄──Persisted──┘    │
//!                              │ messages                    │ messages held
//!                              ▼                             ▼ until durable
//!                           outbound peer tasks ◄────────────┘
//! ```
//! The services run on serving threads, each connection on one of them
//! (serving). The core is synchronous and deterministic, so it lives on a
//! plain thread that owns it and the state machine. The services read the
//! state machine directly for lease reads under a lease the driver
//! publishes, and for stale reads (local_reads); nothing else touches
//! either.

mod driver;
mod local_reads;
pub mod metrics;
mod peers;
mod rejoin_guard;
mod services;
pub mod serving;
mod writer;

pub use driver::{ChangeRequest, Input, KvError, NodeHandle, ReadAnswer, wall_ns};
pub use services::{NodeConfig, run};
