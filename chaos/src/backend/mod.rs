//! Where the cluster runs, behind one trait so the runner does not care:
//! local processes today, containers later.

pub mod docker;
mod firewall;
mod process;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use firewall::Firewall;
pub use process::{ProcessBackend, ProcessOptions};

pub type NodeId = u64;

/// How a partition was made, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMechanism {
    /// iptables rules dropping packets from A's IP to B's listening port.
    Iptables,
    /// The nodes' own admin fault hooks, dropping messages in the process.
    AdminHooks,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("node {0} is unknown to the backend")]
    UnknownNode(NodeId),
    #[error("node {id}: {action} failed: {why}")]
    Action { id: NodeId, action: &'static str, why: String },
    #[error("firewall: {0}")]
    Firewall(String),
    /// Docker missing or down, or a call to it that failed; says which.
    #[error("{0}")]
    Docker(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A cluster's nodes as the chaos runner sees them.
pub trait Backend {
    /// The address clients and peers reach `id` at.
    fn address(&self, id: NodeId) -> SocketAddr;
    /// Starts a new node: a bootstrap member of `peers`, or, with `join`,
    /// a node that asks that address to add it as a learner.
    fn start(&mut self, id: NodeId, peers: &[NodeId], join: Option<NodeId>) -> Result<(), BackendError>;
    /// SIGKILL: no chance to flush or say goodbye.
    fn kill(&mut self, id: NodeId) -> Result<(), BackendError>;
    /// Stops a node the polite way (SIGTERM, SIGKILL after 5 s): how a
    /// removed member is retired.
    fn stop(&mut self, id: NodeId) -> Result<(), BackendError>;
    /// Starts a killed node again on its data.
    fn restart(&mut self, id: NodeId) -> Result<(), BackendError>;
    fn pause(&mut self, id: NodeId) -> Result<(), BackendError>;
    fn resume(&mut self, id: NodeId) -> Result<(), BackendError>;
    /// A power cut of these nodes at once: SIGKILL to all of them, then each
    /// one's storage loses what it had not synced. Says what each lost.
    fn power_loss(&mut self, ids: &[NodeId]) -> Result<Vec<String>, BackendError>;
    /// Drops all traffic from `from` to `to` (one direction only).
    fn cut(&mut self, from: NodeId, to: NodeId) -> Result<CutMechanism, BackendError>;
    /// Removes one cut.
    fn uncut(&mut self, from: NodeId, to: NodeId) -> Result<(), BackendError>;
    /// Removes every cut.
    fn heal(&mut self) -> Result<(), BackendError>;
    /// Runs the node's Raft clock (and so its lease) `ppm` parts per million
    /// fast (negative: slow); 0 restores it.
    fn skew_clock(&mut self, id: NodeId, ppm: i64) -> Result<(), BackendError>;
    /// Delays each of the node's fsyncs by `delay` (zero restores it). A
    /// restarted node comes back with every such hook cleared, and setting
    /// one on a node that is down does nothing.
    fn slow_disk(&mut self, id: NodeId, delay: std::time::Duration) -> Result<(), BackendError>;
    fn log_path(&self, id: NodeId) -> PathBuf;
    fn is_running(&self, id: NodeId) -> bool;
}
