//! Every follower's disk slowed (each fsync takes `delay` longer), through
//! the system's hook; fast again when the fault ends.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::NodeId;
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};
use crate::system::SystemCapability;

pub struct Disk;

impl Family for Disk {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::System(SystemCapability::SlowDisk)]
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            for &id in &aim.others {
                aim.cluster.slow_disk(id, fault.delay).await?;
            }
            let in_effect = Instant::now();
            let confirmed = format!("fault hooks accepted: +{:?} per fsync", fault.delay);
            Ok(Injected {
                target: aim.others.clone(),
                in_effect,
                confirmed,
                heal: Some(Box::new(FastDisks(aim.others))),
            })
        })
    }
}

struct FastDisks(Vec<NodeId>);

impl Heal for FastDisks {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            for id in self.0 {
                cluster.slow_disk(id, Duration::ZERO).await?;
            }
            Ok(())
        })
    }
}
