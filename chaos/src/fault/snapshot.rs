//! A forced snapshot transfer: a follower is cut off both ways until the
//! leader has compacted its log past what the follower holds, so that it
//! can only catch up by snapshot; armed to abort right after installing
//! it, it is let back in, installs, aborts, and is restarted on its data
//! when the fault ends. What it holds then must be the snapshot and what
//! followed it, never an entry of its old log past the snapshot's index:
//! the convergence and linearizability checks see any that come back.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::failpoint::{arm, confirm_aborted};
use super::kill::Restart;
use super::{Aim, Family, Injected, Need};
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};
use crate::system::{Failpoint, SystemCapability};

pub struct SnapshotTransfer;

/// How long the leader may take to compact past the cut-off follower.
const COMPACTS_WITHIN: Duration = Duration::from_secs(60);
/// How long the follower may take to get and install the snapshot.
const INSTALLS_WITHIN: Duration = Duration::from_secs(20);

impl Family for SnapshotTransfer {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::System(SystemCapability::Failpoints), Need::LinkCuts]
    }

    fn inject<'a>(&'a self, _: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let cluster = aim.cluster;
            let follower =
                *aim.others.first().ok_or_else(|| RunError::Cluster("snapshot_transfer: no follower".into()))?;
            let pairs: Vec<_> = cluster
                .members()
                .into_iter()
                .filter(|&m| m != follower)
                .flat_map(|m| [(m, follower), (follower, m)])
                .collect();
            for &(from, to) in &pairs {
                cluster.cut(from, to).await?;
            }
            let in_effect = Instant::now();
            // Its last index once it can receive nothing more. The leader
            // may have sent it more before it noticed (Appends in flight,
            // which TCP delivers once the cut heals), but not after its
            // window of them filled: a second compaction is past those too.
            let held = cluster.status(follower).await.map_or(0, |s| s.last_index);
            let first = wait_for_compaction_past(cluster, held).await;
            let snapshot = match first {
                Some((_, index)) => wait_for_compaction_past(cluster, index).await,
                None => None,
            };
            if snapshot.is_some() {
                arm(cluster, follower, Failpoint::CrashAfterSnapshotInstall).await?;
            }
            for &(from, to) in &pairs {
                cluster.uncut(from, to).await?;
            }
            let confirmed = match snapshot {
                Some((leader, index)) => {
                    let aborted = confirm_aborted(cluster, follower, None, INSTALLS_WITHIN).await;
                    format!(
                        "leader {leader} compacted twice past the follower's last index {held}, to {index}; \
                         {aborted} after installing its snapshot"
                    )
                }
                None => format!("NOT confirmed: the leader did not compact twice past index {held} in time"),
            };
            Ok(Injected { target: vec![follower], in_effect, confirmed, heal: Some(Box::new(Restart(vec![follower]))) })
        })
    }
}

/// The leader and its snapshot's index, once that covers more than
/// `index` (within [`COMPACTS_WITHIN`]).
async fn wait_for_compaction_past(cluster: &Cluster, index: u64) -> Option<(u64, u64)> {
    let deadline = tokio::time::Instant::now() + COMPACTS_WITHIN;
    while tokio::time::Instant::now() < deadline {
        if let Some(leader) = cluster.find_leader().await
            && let Some(s) = cluster.status(leader).await.filter(|s| s.snapshot_index > index)
        {
            return Some((leader, s.snapshot_index));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
