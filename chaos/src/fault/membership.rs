//! Changes that stay: new members joined and promoted, followers removed
//! and retired, leadership handed to another voter.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::{Aim, Family, Injected, Need};
use crate::backend::NodeId;
use crate::cluster::{Cluster, wait_until};
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};
use crate::system::{Role, SystemCapability};

pub struct Membership;

impl Family for Membership {
    fn needs(&self, kind: FaultKind) -> Vec<Need> {
        let capability = if kind == FaultKind::TransferLeader {
            SystemCapability::LeaderTransfer
        } else {
            SystemCapability::Membership
        };
        vec![Need::System(capability)]
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            // A change is in effect from its request on.
            let in_effect = Instant::now();
            let (target, confirmed) = match fault.kind {
                FaultKind::AddVoters => add_voters(fault.count, aim.leader, aim.cluster).await?,
                FaultKind::RemoveVoters => remove_voters(fault.count, &aim.others, aim.cluster).await?,
                FaultKind::TransferLeader => transfer(aim.leader, aim.others[0], aim.cluster).await?,
                other => unreachable!("{other:?} is not a membership change"),
            };
            Ok(Injected { target, in_effect, confirmed: confirmed.into(), heal: None })
        })
    }
}

async fn add_voters(count: u64, leader: NodeId, cluster: &Cluster) -> Result<(Vec<NodeId>, &'static str), RunError> {
    let mut added = Vec::new();
    for _ in 0..count {
        added.push(add_voter(leader, cluster).await?);
    }
    let confirmed = leader_voters(cluster).await.is_some_and(|v| added.iter().all(|a| v.contains(a)));
    Ok((added, if confirmed { "the leader lists them as voters" } else { "NOT confirmed: not all voters yet" }))
}

async fn remove_voters(
    count: u64,
    followers: &[NodeId],
    cluster: &Cluster,
) -> Result<(Vec<NodeId>, &'static str), RunError> {
    let removed: Vec<NodeId> = followers.iter().copied().take(count as usize).collect();
    for &id in &removed {
        cluster.remove(id).await?;
    }
    let confirmed = leader_voters(cluster).await.is_some_and(|v| removed.iter().all(|r| !v.contains(r)));
    Ok((removed, if confirmed { "gone from the leader's membership" } else { "NOT confirmed: still listed" }))
}

async fn transfer(leader: NodeId, to: NodeId, cluster: &Cluster) -> Result<(Vec<NodeId>, &'static str), RunError> {
    cluster.transfer_leader(to).await?;
    let moved = wait_until(Duration::from_secs(10), || async move { cluster.find_leader().await == Some(to) }).await;
    Ok((vec![leader, to], if moved { "the target leads" } else { "NOT confirmed: the target did not take over" }))
}

/// Starts a new node that joins through `leader`, waits for it to catch
/// up, and promotes it; returns its id.
pub(super) async fn add_voter(leader: NodeId, cluster: &Cluster) -> Result<NodeId, RunError> {
    let id = cluster.join(leader).await?;
    let deadline = Instant::now() + CATCH_UP;
    let caught_up = wait_until(CATCH_UP, || async move {
        cluster.status(id).await.is_some_and(|s| s.applied > 0 && s.role == Role::Follower)
    })
    .await;
    if !caught_up {
        return Err(RunError::Cluster(format!("new node {id} did not catch up within {CATCH_UP:?}")));
    }
    // The learner applies entries before its acknowledgement reaches the
    // leader, and a leader elected since knows nothing of its progress: the
    // leader may refuse the first promotion, so it is asked again.
    loop {
        let refused = match cluster.promote(id).await {
            Ok(()) => break,
            Err(refused) => refused,
        };
        // An earlier promotion whose answer was lost counts.
        if leader_voters(cluster).await.is_some_and(|v| v.contains(&id)) {
            break;
        }
        if Instant::now() >= deadline {
            return Err(refused);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.add_member(id);
    Ok(id)
}

/// How long a new member has to catch up and be promoted.
const CATCH_UP: Duration = Duration::from_secs(30);

/// The voters the current leader lists; None without a leader.
async fn leader_voters(cluster: &Cluster) -> Option<Vec<NodeId>> {
    cluster.voters(cluster.find_leader().await?).await
}
