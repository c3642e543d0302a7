//! A follower's disk lost or damaged while it is down: its data directory
//! emptied (wipe_node), or a byte of its newest WAL segment or snapshot
//! flipped (corrupt_wal, corrupt_snapshot); then it is started again with
//! its original arguments, as someone recovering the machine would. A
//! correct member refuses to start on either: bootstrapping a fresh log
//! into a cluster that counted it could lose acknowledged writes, and
//! serving from a damaged file could serve wrong data. That refusal is
//! the confirmation. The heal brings the machine back the right way: the
//! old member is removed and the machine joins under a new id (ids are
//! never reused).

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::membership::add_voter;
use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::{BackendCapability, NodeId};
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};
use crate::system::{StoredFile, SystemCapability};

pub struct Damage;

/// How long the member may take to ask its peers, or read its files, and
/// refuse.
const REFUSAL_WITHIN: Duration = Duration::from_secs(30);

impl Family for Damage {
    fn needs(&self, kind: FaultKind) -> Vec<Need> {
        let mut needs = vec![Need::Backend(BackendCapability::HostDataDir), Need::System(SystemCapability::Membership)];
        if kind != FaultKind::WipeNode {
            needs.push(Need::System(SystemCapability::FileCorruption));
        }
        needs
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let cluster = aim.cluster;
            let kind = fault.kind.name();
            let victim = *aim.others.first().ok_or_else(|| RunError::Cluster(format!("{kind}: no follower")))?;
            let damaged = |what: &str, e: String| RunError::Cluster(format!("{kind}: node {victim}: {what}: {e}"));
            let (done, refusal) = match fault.kind {
                FaultKind::WipeNode => {
                    let wipe = |dir: &std::path::Path| {
                        std::fs::remove_dir_all(dir)
                            .and_then(|()| std::fs::create_dir_all(dir))
                            .map(|()| "emptied its data directory".to_string())
                            .map_err(|e| damaged("wiping", e.to_string()))
                    };
                    (cluster.while_down(victim, wipe).await?, cluster.system().wiped_refusal())
                }
                FaultKind::CorruptWal | FaultKind::CorruptSnapshot => {
                    let file = if fault.kind == FaultKind::CorruptWal { StoredFile::Log } else { StoredFile::Snapshot };
                    let flip = |dir: &std::path::Path| {
                        cluster.system().damage(dir, file).map_err(|e| damaged("damaging", e.to_string()))
                    };
                    (cluster.while_down(victim, flip).await?, "corrupt at byte")
                }
                other => unreachable!("{other:?} does not damage a disk"),
            };
            let in_effect = Instant::now();
            let confirmed = match refused(cluster, victim, refusal).await {
                Ok(line) => format!("{done}; node {victim} refused to start: {line}"),
                Err(why) => format!("{done}; NOT confirmed: {why}"),
            };
            Ok(Injected { target: vec![victim], in_effect, confirmed, heal: Some(Box::new(Rejoin(victim))) })
        })
    }
}

/// The log line in which `id` refused to start (it holds `refusal`), once
/// it exited; else why not.
async fn refused(cluster: &Cluster, id: NodeId, refusal: &str) -> Result<String, String> {
    if !cluster.down_within(id, REFUSAL_WITHIN).await {
        return Err(format!("node {id} still runs after {REFUSAL_WITHIN:?}"));
    }
    match cluster.log_line_with(id, refusal).await.as_deref() {
        // A structured log line (etcd's): its message and error say it.
        Some(line) if let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) => {
            let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            Ok(format!("{}: {}", field("msg"), field("error")))
        }
        Some(line) => {
            let why = line.trim().strip_prefix("error: ").unwrap_or(line.trim());
            // The first clause says what it found; the rest is advice.
            Ok(why.split(": its log").next().unwrap_or(why).to_string())
        }
        None => {
            let last = cluster.log_line_with(id, "").await.unwrap_or_else(|| "(empty log)".into());
            Err(format!("node {id} exited, but not refusing; its last log line: {last}"))
        }
    }
}

/// Removes the damaged member and joins its machine under a new id.
struct Rejoin(NodeId);

impl Heal for Rejoin {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            cluster.remove(self.0).await?;
            let leader = cluster.wait_for_leader(Duration::from_secs(30)).await.ok_or_else(|| {
                RunError::Cluster(format!(
                    "healing a lost disk: no leader within 30 s to join node {}'s machine",
                    self.0
                ))
            })?;
            add_voter(leader, cluster).await?;
            Ok(())
        })
    }
}
