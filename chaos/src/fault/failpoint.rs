//! Failpoints armed at run time: disks fail (disk_error: EIO on WAL
//! fsyncs; disk_full: ENOSPC on WAL writes) in `count` members, the leader
//! first, or the leader's process aborts at a named site (crash_at). A node whose disk failed
//! must stop acknowledging and leading, and say why; the others elect a
//! new leader and carry on. Each is confirmed by what the node logs, and
//! healed by restarting the node on its data (which disarms everything).

use std::time::Duration;

use futures_util::future::BoxFuture;
use rand::RngExt;
use tokio::time::Instant;

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
            let leader_first: Vec<NodeId> = std::iter::once(aim.leader).chain(aim.others.iter().copied()).collect();
            match fault.kind {
                FaultKind::DiskError | FaultKind::DiskFull => {
                    let failpoint =
                        if fault.kind == FaultKind::DiskError { Failpoint::DiskError } else { Failpoint::DiskFull };
                    let targets: Vec<NodeId> = leader_first.into_iter().take(fault.count as usize).collect();
                    // The leader last: its next batch then reaches every
                    // armed disk, its own and its followers'.
                    for &id in targets.iter().rev() {
                        arm(cluster, id, failpoint.clone()).await?;
                    }
                    let in_effect = Instant::now();
                    // Watched at once: each wait may run its whole limit.
                    let watches = targets.iter().map(|&id| async move { (id, disk_failure_seen(cluster, id).await) });
                    let seen = futures_util::future::join_all(watches).await;
                    // A member that no write reached since (the others
                    // stopped first) never tries its disk: armed is all it is.
                    let fired = seen.iter().any(|(_, what)| what.is_some());
                    let said: Vec<String> = seen
                        .iter()
                        .map(|(id, what)| match what {
                            Some(what) => format!("node {id}: {what}"),
                            None => format!("node {id}: armed, no write reached its disk"),
                        })
                        .collect();
                    let confirmed = if fired { said.join("; ") } else { format!("NOT confirmed: {}", said.join("; ")) };
                    Ok(Injected {
                        target: targets.clone(),
                        in_effect,
                        confirmed,
                        heal: Some(Box::new(KillAndRestart(targets))),
                    })
                }
                FaultKind::CrashAt => {
                    let site = match &fault.site {
                        Some(site) => site.clone(),
                        None => {
                            let sites = cluster.system().crash_sites();
                            sites[aim.rng.random_range(0..sites.len())].0.to_string()
                        }
                    };
                    arm(cluster, aim.leader, Failpoint::CrashAt(site.clone())).await?;
                    let in_effect = Instant::now();
                    let confirmed = confirm_aborted(cluster, aim.leader, Some(&site), FIRES_WITHIN).await;
                    Ok(Injected {
                        target: vec![aim.leader],
                        in_effect,
                        confirmed,
                        heal: Some(Box::new(Restart(vec![aim.leader]))),
                    })
                }
                other => unreachable!("{other:?} is not a failpoint"),
            }
        })
    }
}

/// Arms `failpoint` in `id`, trying a few times: the first call on a
/// connection to a member that restarted since may fail. A member that is
/// gone after a try was armed: a crash site fired before it could answer.
pub(super) async fn arm(cluster: &Cluster, id: NodeId, failpoint: Failpoint) -> Result<(), RunError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match cluster.system().set_failpoint(cluster.address(id), failpoint.clone(), true).await {
            Ok(()) => return Ok(()),
            Err(_) if !cluster.backend().await.is_running(id).await => return Ok(()),
            Err(e) if tries == 5 => {
                return Err(RunError::Cluster(format!("node {id}: arming {failpoint:?}, 5 tries: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// What `id`'s log shows of its disk failing within [`FIRES_WITHIN`]: it
/// fenced itself off, or (with the planted bug `ignore-fsync-error`) it
/// carried on regardless.
async fn disk_failure_seen(cluster: &Cluster, id: NodeId) -> Option<&'static str> {
    const SIGNS: [(&str, &str); 2] = [
        ("the disk failed", "its disk failed: it stopped taking part"),
        ("ignoring a failed fsync", "its fsync failed: it carried on (UNSAFE)"),
    ];
    let sign = || async move {
        for (needle, what) in SIGNS {
            if cluster.log_line_with(id, needle).await.is_some() {
                return Some(what);
            }
        }
        None
    };
    wait_until(FIRES_WITHIN, || async move { sign().await.is_some() }).await;
    sign().await
}

/// Whether `id` exited at an armed failpoint (at `site`, when given)
/// within `limit`.
pub(super) async fn confirm_aborted(cluster: &Cluster, id: NodeId, site: Option<&str>, limit: Duration) -> String {
    let exited = cluster.down_within(id, limit).await;
    let line = cluster.log_line_with(id, "failpoint: aborting").await;
    let at = site.map(|s| format!(" at {s}")).unwrap_or_default();
    match (exited, line.is_some_and(|l| site.is_none_or(|s| l.contains(s)))) {
        (true, true) => format!("node {id} aborted{at}"),
        (true, false) => format!("NOT confirmed: node {id} exited, but not at the failpoint{at}"),
        (false, _) => format!("NOT confirmed: node {id} did not abort{at} within {limit:?}"),
    }
}

/// Kills members that stopped taking part and starts them again on their
/// data.
struct KillAndRestart(Vec<NodeId>);

impl Heal for KillAndRestart {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            cluster.kill(&self.0).await?;
            for id in self.0 {
                cluster.restart(id).await?;
            }
            Ok(())
        })
    }
}
