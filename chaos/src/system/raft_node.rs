//! raft-node, this workspace's Raft key-value node, as a system under test.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use node::client::{Client, ClientError};
use tokio_stream::StreamExt;

use super::{
    Bootstrap, Digest, Failpoint, FaultHooks, Launch, MemberEvent, MemberSpec, MemberStatus, Role, StoredFile, System,
    SystemCapability, SystemError,
};
use crate::backend::NodeId;
use crate::check::NodeEventKind;

#[derive(Clone, Debug)]
pub struct RaftNodeOptions {
    /// The program that runs a member, on the host.
    pub program: PathBuf,
    /// Flags given to every member (timeouts...).
    pub node_args: Vec<String>,
    pub admin_token: Option<String>,
}

pub struct RaftNode {
    options: RaftNodeOptions,
    /// For calls to one member at a given address.
    client: Client,
}

impl RaftNode {
    pub fn new(options: RaftNodeOptions) -> RaftNode {
        let client = Client::new(Vec::new(), options.admin_token.clone());
        RaftNode { options, client }
    }

    /// A client that finds the leader among `members`.
    fn leader_client(&self, members: &[SocketAddr]) -> Client {
        Client::new(members.iter().map(SocketAddr::to_string).collect(), self.options.admin_token.clone())
    }
}

fn failed(e: ClientError) -> SystemError {
    SystemError(e.to_string())
}

impl System for RaftNode {
    fn name(&self) -> &'static str {
        "raft-node"
    }

    fn capabilities(&self) -> BTreeSet<SystemCapability> {
        BTreeSet::from([
            SystemCapability::CutHooks,
            SystemCapability::ClockSkew,
            SystemCapability::SlowDisk,
            SystemCapability::DurableWriteMarker,
            SystemCapability::LeaseReadEvents,
            SystemCapability::Membership,
            SystemCapability::LeaderTransfer,
            SystemCapability::Failpoints,
            SystemCapability::FileCorruption,
        ])
    }

    fn check_bug(&self, name: &str) -> Result<(), String> {
        name.parse::<raft::UnsafeBug>().map(|_| ())
    }

    fn wiped_refusal(&self) -> &'static str {
        "Refusing to start"
    }

    fn needs_peer_port(&self) -> bool {
        false
    }

    fn sends_over_accepted_connections(&self) -> bool {
        false
    }

    fn sends_from_its_address(&self) -> bool {
        true
    }

    fn launch(&self, member: &MemberSpec) -> Launch {
        let mut args = vec![
            "--id".to_string(),
            member.id.to_string(),
            "--listen".into(),
            member.address.to_string(),
            "--data".into(),
            member.data_dir.to_string_lossy().into_owned(),
            "--cluster".into(),
            member.cluster.clone(),
            // So that a power cut knows what it would take.
            "--track-durable-writes".into(),
        ];
        match &member.bootstrap {
            Bootstrap::Join { through, .. } => args.extend(["--join".into(), through.to_string()]),
            Bootstrap::Peers(peers) => {
                let list: Vec<String> = peers.iter().map(|(id, address)| format!("{id}={address}")).collect();
                args.extend(["--peers".into(), list.join(",")]);
            }
        }
        if let Some(token) = &self.options.admin_token {
            args.extend(["--admin-token".into(), token.clone()]);
        }
        args.extend(self.options.node_args.iter().cloned());
        for bug in &member.planted_bugs {
            args.extend(["--unsafe-inject-bug".into(), bug.clone()]);
        }
        Launch { program: self.options.program.clone(), args, env: Vec::new() }
    }

    /// A new raft-node asks to be added itself (`--join`).
    fn admit(&self, _members: Vec<SocketAddr>, _member: &MemberSpec) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async { Ok(()) })
    }

    fn status(&self, at: SocketAddr) -> BoxFuture<'_, Result<MemberStatus, SystemError>> {
        Box::pin(async move {
            let s = self.client.status(&at.to_string()).await.map_err(failed)?;
            let role = match s.role.as_str() {
                "Leader" => Role::Leader,
                "Follower" => Role::Follower,
                _ => Role::Other,
            };
            Ok(MemberStatus {
                id: s.id,
                role,
                term: s.term,
                leader: (s.leader != 0).then_some(s.leader),
                applied: s.applied,
                last_index: s.last_index,
                snapshot_index: s.snapshot_index,
                members: s.members.iter().map(|m| (m.id, m.voter)).collect(),
                cluster: s.cluster,
            })
        })
    }

    fn events(&self, at: SocketAddr) -> BoxFuture<'_, Result<BoxStream<'static, MemberEvent>, SystemError>> {
        Box::pin(async move {
            let stream = self.client.events(&at.to_string()).await.map_err(failed)?;
            let events = stream.map_while(|e| {
                let e = e.ok()?;
                let kind = if e.kind == "lease_read" { NodeEventKind::LeaseRead } else { NodeEventKind::Role };
                Some(MemberEvent { kind, role: e.role, term: e.term, wall_ns: e.wall_ns })
            });
            Ok(Box::pin(events) as BoxStream<'static, MemberEvent>)
        })
    }

    fn digest(&self, at: SocketAddr) -> BoxFuture<'_, Result<Digest, SystemError>> {
        Box::pin(async move {
            let d = self.client.digest(&at.to_string()).await.map_err(failed)?;
            Ok(Digest { applied: d.applied, digest: d.digest })
        })
    }

    fn promote(&self, members: Vec<SocketAddr>, id: NodeId) -> BoxFuture<'_, Result<(), SystemError>> {
        let client = self.leader_client(&members);
        Box::pin(async move { client.promote(id).await.map(drop).map_err(failed) })
    }

    fn remove(&self, members: Vec<SocketAddr>, id: NodeId) -> BoxFuture<'_, Result<(), SystemError>> {
        let client = self.leader_client(&members);
        Box::pin(async move { client.remove(id).await.map(drop).map_err(failed) })
    }

    fn transfer_leader(&self, members: Vec<SocketAddr>, to: NodeId) -> BoxFuture<'_, Result<(), SystemError>> {
        let client = self.leader_client(&members);
        Box::pin(async move { client.transfer_leader(to).await.map(drop).map_err(failed) })
    }

    fn set_fault_hooks(&self, at: SocketAddr, hooks: &FaultHooks) -> BoxFuture<'_, Result<(), SystemError>> {
        let hooks = hooks.clone();
        Box::pin(async move {
            let drop_to: Vec<u64> = hooks.drop_to.into_iter().collect();
            let (skew, delay) = (hooks.clock_skew_ppm, hooks.disk_delay_ms);
            self.client.set_faults(&at.to_string(), drop_to, Vec::new(), skew, delay).await.map_err(failed)
        })
    }

    fn target(&self, members: &[SocketAddr]) -> loadgen::target::Target {
        loadgen::target::Target::Raft(members.iter().map(SocketAddr::to_string).collect())
    }

    fn drop_unsynced(&self, host_data_dir: &Path) -> Result<u64, SystemError> {
        node::storage::power_loss::drop_unsynced(host_data_dir)
            .map(|dropped| dropped.bytes_cut)
            .map_err(|e| SystemError(format!("{}: {e}", host_data_dir.display())))
    }

    fn damage(&self, host_data_dir: &Path, file: StoredFile) -> Result<String, SystemError> {
        use node::storage::damage::{flip_snapshot_byte, flip_wal_byte};
        let flipped = match file {
            StoredFile::Log => flip_wal_byte(host_data_dir),
            StoredFile::Snapshot => flip_snapshot_byte(host_data_dir),
        };
        let (path, offset) = flipped.map_err(|e| SystemError(e.to_string()))?;
        Ok(format!("flipped byte {offset} of {}", path.file_name().unwrap_or_default().to_string_lossy()))
    }

    fn crash_sites(&self) -> Vec<(&'static str, &'static str)> {
        node::failpoints::SITES.iter().copied().filter(|(name, _)| name.starts_with("crash-")).collect()
    }

    fn set_failpoint(&self, at: SocketAddr, failpoint: Failpoint, on: bool) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async move {
            // The fail crate's actions; a crash site aborts the first time.
            let sites: Vec<(String, &str)> = match failpoint {
                Failpoint::DiskError => vec![("wal-sync".into(), "return(eio)")],
                Failpoint::DiskFull => vec![("wal-write".into(), "return(enospc)")],
                Failpoint::CrashAt(site) => vec![(site, "return")],
                Failpoint::CrashAfterSnapshotInstall => vec![("crash-after-snapshot-install".into(), "return")],
            };
            for (site, actions) in sites {
                let actions = if on { actions } else { "off" };
                self.client.set_failpoint(&at.to_string(), &site, actions).await.map_err(failed)?;
            }
            Ok(())
        })
    }
}
