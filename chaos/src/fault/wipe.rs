//! A lost disk: a follower is killed, its data directory emptied, and it
//! is started again with its original arguments, as someone recovering the
//! machine would. Booting a fresh log into a cluster that counted the
//! member lets it vote and lose acknowledged writes, so a correct member
//! refuses: that refusal is the confirmation. The heal brings the machine
//! back the right way: the old member is removed and the machine joins
//! under a new id (ids are never reused).

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::membership::add_voter;
use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::{BackendCapability, NodeId};
use crate::cluster::{Cluster, wait_until};
use crate::runner::RunError;
use crate::scenario::Fault;
use crate::scenario::FaultKind;
use crate::system::SystemCapability;

pub struct Wipe;

/// How long the wiped member may take to ask its peers and refuse.
const REFUSAL_WITHIN: Duration = Duration::from_secs(30);

impl Family for Wipe {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::Backend(BackendCapability::HostDataDir), Need::System(SystemCapability::Membership)]
    }

    fn inject<'a>(&'a self, _: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let victim = *aim.others.first().ok_or_else(|| RunError::Cluster("wipe_node: no follower".into()))?;
            aim.cluster.wipe(victim).await?;
            let confirmed = confirm_refused(aim.cluster, victim).await;
            Ok(Injected { target: vec![victim], confirmed, heal: Some(Box::new(Rejoin(victim))) })
        })
    }
}

/// Whether the wiped member exited refusing to start, by its last log line.
async fn confirm_refused(cluster: &Cluster, id: NodeId) -> String {
    let exited = wait_until(REFUSAL_WITHIN, || async move { !cluster.backend().await.is_running(id).await }).await;
    let log = std::fs::read_to_string(cluster.backend().await.log_path(id)).unwrap_or_default();
    let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(empty log)");
    match (exited, last.contains("Refusing to start")) {
        (true, true) => format!("node {id} refused to bootstrap on its empty directory"),
        (true, false) => format!("NOT confirmed: node {id} exited, but not refusing; its last log line: {last}"),
        (false, _) => format!("NOT confirmed: node {id} still runs on its empty directory after {REFUSAL_WITHIN:?}"),
    }
}

/// Removes the wiped member and joins its machine under a new id.
struct Rejoin(NodeId);

impl Heal for Rejoin {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            cluster.remove(self.0).await?;
            let leader = cluster.wait_for_leader(Duration::from_secs(30)).await.ok_or_else(|| {
                RunError::Cluster(format!("wipe_node heal: no leader within 30 s to join node {}'s machine", self.0))
            })?;
            add_voter(leader, cluster).await?;
            Ok(())
        })
    }
}
