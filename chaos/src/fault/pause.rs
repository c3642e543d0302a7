//! The leader frozen (SIGSTOP, a cgroup freeze...) and thawed when the
//! fault ends.

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::{BackendCapability, NodeId};
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};

pub struct Pause;

impl Family for Pause {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::Backend(BackendCapability::Pause)]
    }

    fn inject<'a>(&'a self, _: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            aim.cluster.pause(aim.leader).await?;
            let in_effect = Instant::now();
            let answered = aim.cluster.status(aim.leader).await.is_some();
            let confirmed = if answered { "NOT confirmed: node answered" } else { "status timed out while paused" };
            Ok(Injected {
                target: vec![aim.leader],
                in_effect,
                confirmed: confirmed.into(),
                heal: Some(Box::new(Resume(aim.leader))),
            })
        })
    }
}

struct Resume(NodeId);

impl Heal for Resume {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        // It may have been killed meanwhile by an overlapping fault, and
        // then has nothing to resume.
        Box::pin(async move {
            let _ = cluster.resume(self.0).await;
            Ok(())
        })
    }
}
