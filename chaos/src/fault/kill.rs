//! SIGKILL to some members; they restart on their data when the fault ends.

use futures_util::future::BoxFuture;
use rand::RngExt;
use tokio::time::Instant;

use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::NodeId;
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};

pub struct Kill;

impl Family for Kill {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        Vec::new()
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let members = aim.cluster.members();
            let leader_first = || std::iter::once(aim.leader).chain(aim.others.iter().copied());
            let victims: Vec<NodeId> = match fault.kind {
                FaultKind::KillLeader => vec![aim.leader],
                FaultKind::KillFollower => aim.others.first().copied().into_iter().collect(),
                FaultKind::KillRandom => vec![members[aim.rng.random_range(0..members.len())]],
                FaultKind::KillMinority => leader_first().take((members.len() - 1) / 2).collect(),
                FaultKind::KillMajority => leader_first().take(members.len() / 2 + 1).collect(),
                other => unreachable!("{other:?} is not a kill"),
            };
            aim.cluster.kill(&victims).await?;
            let in_effect = Instant::now();
            let confirmed = confirm_down(aim.cluster, &victims, "processes gone; status refused".into()).await;
            Ok(Injected { target: victims.clone(), in_effect, confirmed, heal: Some(Box::new(Restart(victims))) })
        })
    }
}

/// `ok` when none of `victims` answers, else which still do.
pub(super) async fn confirm_down(cluster: &Cluster, victims: &[NodeId], ok: String) -> String {
    let mut answering = Vec::new();
    for &v in victims {
        if cluster.status(v).await.is_some() {
            answering.push(v);
        }
    }
    if answering.is_empty() { ok } else { format!("NOT confirmed: {answering:?} still answer") }
}

/// Starts these members again on their data.
pub(super) struct Restart(pub Vec<NodeId>);

impl Heal for Restart {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            for id in self.0 {
                cluster.restart(id).await?;
            }
            Ok(())
        })
    }
}
