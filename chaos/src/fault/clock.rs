//! The leader's Raft clock (its lease clock included) run fast or slow,
//! through the system's hook; normal again when the fault ends.

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::NodeId;
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};
use crate::system::SystemCapability;

pub struct Clock;

impl Family for Clock {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::System(SystemCapability::ClockSkew)]
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            aim.cluster.skew_clock(aim.leader, (fault.skew * 1e6) as i64).await?;
            let in_effect = Instant::now();
            let confirmed = format!("fault hook accepted: clock rate {:+.0}%", fault.skew * 100.0);
            Ok(Injected { target: vec![aim.leader], in_effect, confirmed, heal: Some(Box::new(Unskew(aim.leader))) })
        })
    }
}

struct Unskew(NodeId);

impl Heal for Unskew {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move { cluster.skew_clock(self.0, 0).await })
    }
}
