//! Failpoints armed in the leader at run time: its disk fails (disk_error:
//! EIO on log writes and syncs; disk_full: ENOSPC on log writes), or its
//! process aborts at a named site (crash_at). A node whose disk failed
//! must stop acknowledging and leading, and say why; the others elect a
//! new leader and carry on. Each is confirmed by what the node logs, and
//! healed by restarting the node on its data (which disarms everything).

use std::time::Duration;

use futures_util::future::BoxFuture;
use rand::RngExt;

use super::kill::Restart;
use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::NodeId;
use crate::cluster::{Cluster, wait_until};
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};
use crate::system::{Failpoint, SystemCapability};

pub struct Failpoints;

/// How long the armed failpoint may take to fire under load.
const FIRES_WITHIN: Duration = Duration::from_secs(10);

impl Family for Failpoints {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::System(SystemCapability::Failpoints)]
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let cluster = aim.cluster;
            let leader = aim.leader;
            let (failpoint, heal): (Failpoint, Box<dyn Heal>) = match fault.kind {
                FaultKind::DiskError => (Failpoint::DiskError, Box::new(KillAndRestart(leader))),
                FaultKind::DiskFull => (Failpoint::DiskFull, Box::new(KillAndRestart(leader))),
                FaultKind::CrashAt => {
                    let site = match &fault.site {
                        Some(site) => site.clone(),
                        None => {
                            let sites = cluster.system().crash_sites();
                            sites[aim.rng.random_range(0..sites.len())].0.to_string()
                        }
                    };
                    (Failpoint::CrashAt(site), Box::new(Restart(vec![leader])))
                }
                other => unreachable!("{other:?} is not a failpoint"),
            };
            arm(cluster, leader, failpoint.clone()).await?;
            let confirmed = match &failpoint {
                Failpoint::CrashAt(site) => confirm_aborted(cluster, leader, Some(site), FIRES_WITHIN).await,
                _ => {
                    confirm_logged(cluster, leader, "the disk failed", "its disk failed: it stopped taking part").await
                }
            };
            Ok(Injected { target: vec![leader], confirmed, heal: Some(heal) })
        })
    }
}

/// Arms `failpoint` in `id`, trying a few times: the first call on a
/// connection to a member that restarted since may fail.
pub(super) async fn arm(cluster: &Cluster, id: NodeId, failpoint: Failpoint) -> Result<(), RunError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match cluster.system().set_failpoint(cluster.address(id), failpoint.clone(), true).await {
            Ok(()) => return Ok(()),
            Err(e) if tries == 5 => {
                return Err(RunError::Cluster(format!("node {id}: arming {failpoint:?}, 5 tries: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// `ok` once `id`'s log has a line containing `needle`, within
/// [`FIRES_WITHIN`].
async fn confirm_logged(cluster: &Cluster, id: NodeId, needle: &str, ok: &str) -> String {
    let logged = wait_until(FIRES_WITHIN, || async move { last_line_with(cluster, id, needle).await.is_some() }).await;
    if logged { format!("node {id}: {ok}") } else { format!("NOT confirmed: node {id} never logged {needle:?}") }
}

/// Whether `id` exited at an armed failpoint (at `site`, when given)
/// within `limit`.
pub(super) async fn confirm_aborted(cluster: &Cluster, id: NodeId, site: Option<&str>, limit: Duration) -> String {
    let exited = wait_until(limit, || async move { !cluster.backend().await.is_running(id).await }).await;
    let line = last_line_with(cluster, id, "failpoint: aborting").await;
    let at = site.map(|s| format!(" at {s}")).unwrap_or_default();
    match (exited, line.is_some_and(|l| site.is_none_or(|s| l.contains(s)))) {
        (true, true) => format!("node {id} aborted{at}"),
        (true, false) => format!("NOT confirmed: node {id} exited, but not at the failpoint{at}"),
        (false, _) => format!("NOT confirmed: node {id} did not abort{at} within {limit:?}"),
    }
}

async fn last_line_with(cluster: &Cluster, id: NodeId, needle: &str) -> Option<String> {
    let log = std::fs::read_to_string(cluster.backend().await.log_path(id)).unwrap_or_default();
    log.lines().rev().find(|l| l.contains(needle)).map(str::to_string)
}

/// Kills a member that stopped taking part and starts it again on its data.
struct KillAndRestart(NodeId);

impl Heal for KillAndRestart {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            cluster.kill(&[self.0]).await?;
            cluster.restart(self.0).await?;
            Ok(())
        })
    }
}
