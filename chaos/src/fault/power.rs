//! Every member loses power at once: killed, and each loses the writes it
//! had not synced. The followers come back at once, the old leader when
//! the fault ends, so the others decide what survived.

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::kill::{Restart, confirm_down};
use super::{Aim, Family, Injected, Need};
use crate::backend::BackendCapability;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};
use crate::system::SystemCapability;

pub struct Power;

impl Family for Power {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::System(SystemCapability::DurableWriteMarker), Need::Backend(BackendCapability::HostDataDir)]
    }

    fn inject<'a>(&'a self, _: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let members = aim.cluster.members();
            let lost = aim.cluster.power_loss(&members).await?;
            let in_effect = Instant::now();
            let confirmed = confirm_down(aim.cluster, &members, format!("all down; {}", lost.join("; "))).await;
            for &id in &aim.others {
                aim.cluster.restart(id).await?;
            }
            let target = std::iter::once(aim.leader).chain(aim.others).collect();
            Ok(Injected { target, in_effect, confirmed, heal: Some(Box::new(Restart(vec![aim.leader]))) })
        })
    }
}
