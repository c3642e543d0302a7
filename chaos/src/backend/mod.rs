//! Where the members run, behind one trait so the runner does not care:
//! local processes ([`ProcessBackend`]), containers. A backend knows
//! nothing of the system it runs: it gets a [`Launch`] (a command line) per
//! member and does to that member what the faults ask. A new backend is a
//! module here that implements [`Backend`], a name in
//! `scenario::BackendKind`, and its arm in `runner::backend_for`.

pub mod docker;
mod firewall;
mod owner;
mod process;
pub mod shaper;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;

pub use firewall::{Firewall, Link, Sender};
pub use process::{ProcessBackend, ProcessOptions};
pub use shaper::{ShapeCounts, Shaping};

/// What `chaos clean` removed of runs on the process backend whose chaos
/// process is gone: member processes (by pid) and iptables chains.
pub fn remove_process_orphans() -> Result<(Vec<u32>, Vec<String>), BackendError> {
    Ok((process::kill_orphans()?, firewall::remove_orphans()?))
}

use crate::system::Launch;

pub type NodeId = u64;

/// One [`Backend::shape`] call's links, to end them by.
pub type ShapeId = u64;

/// How a partition was made, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CutMechanism {
    /// iptables rules dropping packets from A's IP to B's listening port.
    Iptables,
    /// The members' own admin fault hooks, dropping messages in the process.
    AdminHooks,
}

/// What a backend can do to a member beyond start, stop and kill; the
/// faults that need more are refused when the scenario loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendCapability {
    /// Cutting one direction of a link between two members ([`Backend::cut`]).
    PacketCuts,
    /// Freezing a member and thawing it.
    Pause,
    /// A member's data directory is reachable from the host while it is
    /// down, so a power cut can drop what it had not synced, or a lost disk
    /// can be wiped.
    HostDataDir,
    /// Delaying, losing, duplicating, reordering or rate-limiting the
    /// packets of a link ([`Backend::shape`]).
    PacketShaping,
}

impl BackendCapability {
    /// What it is, as a refusal names it.
    pub fn describe(self) -> &'static str {
        match self {
            BackendCapability::PacketCuts => "packet cuts",
            BackendCapability::Pause => "pausing a member",
            BackendCapability::HostDataDir => "a host-visible data directory",
            BackendCapability::PacketShaping => "packet shaping (iptables NFQUEUE, as root)",
        }
    }
}

/// Where one member runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// How the harness (and the workload) reaches its client port.
    pub harness_address: SocketAddr,
    /// Where it listens for clients, as it sees it.
    pub client_address: SocketAddr,
    /// How its peers reach it; it listens there. The client address itself
    /// unless the system serves peers on a port of their own.
    pub peer_address: SocketAddr,
    /// Its data directory as the member sees it.
    pub data_dir: PathBuf,
    /// The same directory on the host, when the host can reach it.
    pub host_data_dir: Option<PathBuf>,
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

/// The members of a cluster as the backend runs them. Dropping it stops
/// every member and removes whatever it set up (rules, networks...).
pub trait Backend: Send {
    /// As scenarios and `--backend` name it.
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> BTreeSet<BackendCapability>;
    /// How it cuts links, when it can (see [`BackendCapability::PacketCuts`]).
    fn cut_mechanism(&self) -> Option<CutMechanism>;
    /// Where member `id` runs; the same for an id for the whole run.
    fn place(&mut self, id: NodeId) -> Result<Placement, BackendError>;
    /// Runs a new member, placed before, with this command line.
    fn start<'a>(&'a mut self, id: NodeId, launch: &'a Launch) -> BoxFuture<'a, Result<(), BackendError>>;
    /// SIGKILL to all of them at once (none gets to see another die first):
    /// no chance to flush or say goodbye. Returns when all are gone.
    fn kill<'a>(&'a mut self, ids: &'a [NodeId]) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Stops a member the polite way (SIGTERM, SIGKILL after 5 s): how a
    /// removed member is retired.
    fn stop(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Starts a stopped or killed member again on its data, with the same
    /// command line. Does nothing to a member that runs.
    fn restart(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>>;
    fn pause(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>>;
    fn resume(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Drops all traffic from `from` to `to`'s peer port (one direction
    /// only).
    fn cut(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Removes one cut.
    fn uncut(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Removes every cut.
    fn heal(&mut self) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Passes what each `(from, to)` link carries (what [`Backend::cut`]
    /// would drop) through a user-space shaper applying `shaping`, one
    /// shaper per network namespace the links leave from ([`shaper`]).
    fn shape<'a>(
        &'a mut self,
        links: &'a [(NodeId, NodeId)],
        shaping: &'a Shaping,
        seed: u64,
    ) -> BoxFuture<'a, Result<ShapeId, BackendError>>;
    /// What the shapers of `id` did so far (nothing once it ended).
    fn shape_counts(&self, id: ShapeId) -> ShapeCounts;
    /// Ends one shaping: its rules go, then what it holds is let through.
    /// Returns what it did.
    fn unshape(&mut self, id: ShapeId) -> BoxFuture<'_, Result<ShapeCounts, BackendError>>;
    /// How long it took `from` to open a TCP connection to where `to`
    /// listens for its peers; `None` if it did not within 500 ms: how a cut
    /// is shown to hold, a link to be open, a delay to be in force.
    fn probe(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<Option<Duration>, BackendError>>;
    /// The member's output, on the host.
    fn log_path(&self, id: NodeId) -> PathBuf;
    /// Whether the member's program is still running (a paused one is);
    /// false once it exited, whoever ended it.
    fn is_running(&mut self, id: NodeId) -> BoxFuture<'_, bool>;
}

/// Moves the calling thread (only it) into the network namespace whose
/// file (`/proc/PID/ns/net`) is `netns`.
fn enter_netns(netns: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) on an open namespace file; it changes only this
    // thread's network namespace.
    if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// How long a probe waits for its connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// A TCP connect to `to` from a thread of its own that first calls `enter`
/// (which changes something for the calling thread only: its network
/// namespace, its user), and ends after the one try, so no other code ever
/// runs in what `enter` changed. `what` names the change in errors. How
/// long the connect took, if it did.
async fn connects_from_own_thread<F>(what: String, to: SocketAddr, enter: F) -> Result<Option<Duration>, BackendError>
where
    F: FnOnce() -> std::io::Result<()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let outcome = enter().map(|()| {
            let start = std::time::Instant::now();
            std::net::TcpStream::connect_timeout(&to, PROBE_TIMEOUT).ok().map(|_| start.elapsed())
        });
        let _ = tx.send(outcome);
    });
    let outcome = rx.await.map_err(|_| BackendError::Firewall(format!("{what}: the probe thread died")))?;
    outcome.map_err(|e| BackendError::Firewall(format!("{what}: {e}")))
}
