//! What runs: the system under test, behind one trait so the runner, the
//! cluster and the faults know nothing specific to it. A system says how
//! to launch a member (the backend decides where), how to ask a member
//! about itself, how to change the membership, and which faults it has
//! hooks for. raft-node and etcd are the two; a new one is a module here
//! that implements [`System`] plus a name in `scenario::SystemKind`.

mod etcd;
mod raft_node;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde::Serialize;

pub use etcd::{Etcd, EtcdOptions};
pub use raft_node::{RaftNode, RaftNodeOptions};

use crate::backend::NodeId;
use crate::check::NodeEventKind;

/// What a system can do beyond running and answering its clients; the
/// faults that need more are refused when the scenario loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemCapability {
    /// Admin calls that make a member drop its messages to chosen peers:
    /// partitions where the backend cannot cut packets.
    CutHooks,
    /// Running a member's Raft clock (and so its lease) fast or slow.
    ClockSkew,
    /// Delaying each of a member's fsyncs.
    SlowDisk,
    /// A record of how far each member's log is synced, so a power cut can
    /// drop what was not ([`System::drop_unsynced`]).
    DurableWriteMarker,
    /// Members report the lease reads they serve (for the split-brain check).
    LeaseReadEvents,
    /// Members that join as learners, promoting and removing them.
    Membership,
    LeaderTransfer,
    /// Named points where the member's disk fails or its process aborts,
    /// set at run time ([`System::set_failpoint`]).
    Failpoints,
    /// Damaging a stopped member's files ([`System::damage`]), which it
    /// refuses to start from.
    FileCorruption,
}

impl SystemCapability {
    /// What it is, as a refusal names it.
    pub fn describe(self) -> &'static str {
        match self {
            SystemCapability::CutHooks => "fault hooks that cut links",
            SystemCapability::ClockSkew => "a Raft-clock skew hook",
            SystemCapability::SlowDisk => "a slow-disk hook",
            SystemCapability::DurableWriteMarker => "a durable-write marker for power loss",
            SystemCapability::LeaseReadEvents => "lease-read events",
            SystemCapability::Membership => "membership changes",
            SystemCapability::LeaderTransfer => "leader transfer",
            SystemCapability::Failpoints => "failpoints",
            SystemCapability::FileCorruption => "damaging a member's files",
        }
    }
}

/// How a new member finds its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// A founding member of a cluster of these (itself included), with
    /// their addresses as peers see them.
    Peers(Vec<(NodeId, SocketAddr)>),
    /// A new member, admitted as a learner ([`System::admit`]) and promoted
    /// later ([`System::promote`]).
    Join {
        /// A member to ask (as peers see it), for a system whose new
        /// members ask to be added themselves (raft-node).
        through: SocketAddr,
        /// The members it joins, with their addresses as peers see them,
        /// for a system that must be told them (etcd).
        members: Vec<(NodeId, SocketAddr)>,
    },
}

/// One member to launch, in the terms of the place it runs in.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub id: NodeId,
    /// Where it listens for its peers, and where they reach it.
    pub address: SocketAddr,
    /// Where it listens for clients: `address` itself for a system that
    /// serves both on one port (see [`System::needs_peer_port`]).
    pub client_address: SocketAddr,
    pub bootstrap: Bootstrap,
    /// Its data directory, as the member sees it.
    pub data_dir: PathBuf,
    /// The run's cluster identity: members of another run's cluster answer
    /// with another one.
    pub cluster: String,
    /// Bugs to plant, by the system's names for them.
    pub planted_bugs: Vec<String>,
}

/// A command line, for the backend to run wherever it runs members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// On the host.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    /// Anything else: candidate, learner waiting to catch up...
    Other,
}

/// What a member says about itself.
#[derive(Clone, Debug)]
pub struct MemberStatus {
    pub id: NodeId,
    pub role: Role,
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    pub applied: u64,
    /// The last index its log holds (applied or not).
    pub last_index: u64,
    /// The last index its log compacted into a snapshot (0 if none, or if
    /// the system does not say).
    pub snapshot_index: u64,
    /// The membership it knows of, as (id, voter).
    pub members: Vec<(NodeId, bool)>,
    /// The cluster identity its data belongs to.
    pub cluster: String,
}

/// One event on a member's stream.
#[derive(Clone, Debug)]
pub struct MemberEvent {
    pub kind: NodeEventKind,
    pub role: String,
    pub term: u64,
    /// On the wall clock, nanoseconds since the Unix epoch.
    pub wall_ns: u64,
}

/// A member's state machine at the end: how far it applied, and a digest
/// of the state that equal replicas share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub applied: u64,
    pub digest: String,
}

/// What the admin fault hooks of one member are set to; one call sets them
/// all (see [`SystemCapability`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultHooks {
    /// Peers it drops its messages to.
    pub drop_to: BTreeSet<NodeId>,
    pub clock_skew_ppm: i64,
    pub disk_delay_ms: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SystemError(pub String);

/// The system under test. Addresses given to it are the harness's way to
/// a member (see `backend::Placement`); lists of them name the current
/// members, for calls that the leader must serve.
pub trait System: Send + Sync {
    /// As scenarios and `--system` name it.
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> BTreeSet<SystemCapability>;
    /// Whether it can plant this bug; the error lists the bugs it knows.
    fn check_bug(&self, name: &str) -> Result<(), String>;
    /// Whether members serve their peers on a port of their own, apart
    /// from the one clients use (etcd), rather than both on one (raft-node).
    fn needs_peer_port(&self) -> bool;
    /// Whether members also send to a peer over connections that peer
    /// opened (etcd's peer streams), so that cutting A->B must drop what A
    /// sends from its peer port too; raft-node sends only over its own.
    fn sends_over_accepted_connections(&self) -> bool;
    /// Whether members' own connections leave from their own address
    /// (raft-node binds them); etcd's leave from wherever the host routes
    /// them.
    fn sends_from_its_address(&self) -> bool;
    fn launch(&self, member: &MemberSpec) -> Launch;
    /// What a member started again on an emptied data directory writes to
    /// its log as it refuses to start (a part of that line): how a wiped
    /// disk is shown to have been noticed.
    fn wiped_refusal(&self) -> &'static str;
    /// Makes room in the cluster for a new member before it starts, for a
    /// system where the cluster adds it (etcd) rather than the new member
    /// asking to be added (raft-node, for which this does nothing).
    fn admit(&self, members: Vec<SocketAddr>, member: &MemberSpec) -> BoxFuture<'_, Result<(), SystemError>>;
    fn status(&self, at: SocketAddr) -> BoxFuture<'_, Result<MemberStatus, SystemError>>;
    /// How often [`System::events`] asks a member for its role, for a
    /// system that reports no role changes of its own (etcd); none when
    /// members stream them (raft-node).
    fn role_polls(&self) -> Option<std::time::Duration> {
        None
    }
    /// The members' election timeout, for a workload client that cannot
    /// ask them (etcd's does not; raft-node's reads it from status) and
    /// times its attempts by it.
    fn election_timeout(&self) -> Option<std::time::Duration> {
        None
    }
    /// The member's events from now on, until it goes down.
    fn events(&self, at: SocketAddr) -> BoxFuture<'_, Result<BoxStream<'static, MemberEvent>, SystemError>>;
    fn digest(&self, at: SocketAddr) -> BoxFuture<'_, Result<Digest, SystemError>>;
    /// One attempt: a system may refuse a learner it does not yet count as
    /// caught up, and the caller asks again.
    fn promote(&self, members: Vec<SocketAddr>, id: NodeId) -> BoxFuture<'_, Result<(), SystemError>>;
    fn remove(&self, members: Vec<SocketAddr>, id: NodeId) -> BoxFuture<'_, Result<(), SystemError>>;
    fn transfer_leader(&self, members: Vec<SocketAddr>, to: NodeId) -> BoxFuture<'_, Result<(), SystemError>>;
    fn set_fault_hooks(&self, at: SocketAddr, hooks: &FaultHooks) -> BoxFuture<'_, Result<(), SystemError>>;
    /// Where loadgen sends the workload.
    fn target(&self, members: &[SocketAddr]) -> loadgen::target::Target;
    /// After a power cut, drops from a stopped member's data (on the host)
    /// what it had not synced; returns how many bytes went.
    fn drop_unsynced(&self, host_data_dir: &Path) -> Result<u64, SystemError>;
    /// The sites where [`Failpoint::CrashAt`] can abort a member, with
    /// what each is; none unless the system has
    /// [`SystemCapability::Failpoints`].
    fn crash_sites(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
    /// Flips a byte of a stopped member's `file` in its data directory on
    /// the host, as bit rot would; says which file and where. Only with
    /// [`SystemCapability::FileCorruption`].
    fn damage(&self, host_data_dir: &Path, file: StoredFile) -> Result<String, SystemError> {
        let _ = host_data_dir;
        Err(SystemError(format!("the {} system cannot damage its {file:?}", self.name())))
    }
    /// Arms (or, with `on` false, disarms) a failpoint in the member at
    /// `at`. A restarted member starts with none armed.
    fn set_failpoint(&self, at: SocketAddr, failpoint: Failpoint, on: bool) -> BoxFuture<'_, Result<(), SystemError>> {
        let _ = (at, on);
        let why = format!("the {} system has no failpoints ({failpoint:?})", self.name());
        Box::pin(async move { Err(SystemError(why)) })
    }
}

/// What a failpoint does to a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failpoint {
    /// Its log's fsyncs fail with EIO (what was written may not be on disk).
    DiskError,
    /// Its log's writes fail with ENOSPC.
    DiskFull,
    /// Its process aborts at this site (one of [`System::crash_sites`]).
    CrashAt(String),
    /// Its process aborts right after it installed a snapshot from the
    /// leader and made it durable.
    CrashAfterSnapshotInstall,
}

/// A kind of file a member keeps, for [`System::damage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredFile {
    /// Its log (WAL).
    Log,
    /// Its newest snapshot.
    Snapshot,
}
