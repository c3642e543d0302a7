//! The fault schedule: the scenario's own faults plus a seeded random
//! nemesis, each injected at its time (they may overlap) by its family
//! (see `fault`), confirmed, and healed when its window ends.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::backend::NodeId;
use crate::cluster::Cluster;
use crate::fault::{self, Aim, Injected};
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind, ScenarioFile};

/// How long a fault waits for a leader to aim at before it is skipped.
const LEADER_WITHIN: Duration = Duration::from_secs(5);

/// One injected fault, as the report shows it.
pub use reports::InjectedFault;

/// The whole schedule: the listed faults, then the random nemesis's draws
/// (from `seed` alone, so a seed always gives the same schedule), by time.
pub fn schedule(file: &ScenarioFile, duration: Duration) -> Vec<Fault> {
    let mut faults = file.faults.clone();
    if let Some(n) = &file.nemesis {
        let mut rng = ChaCha8Rng::seed_from_u64(file.seed ^ 0x006e_656d_6573_6973);
        let kinds: &[FaultKind] = if n.kinds.is_empty() { &FaultKind::HEALING } else { &n.kinds };
        let mut at = n.start.unwrap_or(n.every);
        // Leave a second after the last heal for the cluster to recover
        // under load before the workload ends.
        while at + n.lasts + Duration::from_secs(1) < duration {
            let kind = kinds[rng.random_range(0..kinds.len())];
            faults.push(Fault::with_defaults(at, n.lasts, kind));
            at += n.every;
        }
    }
    faults.sort_by_key(|f| f.at);
    faults
}

/// Runs the schedule against the cluster from `t0`; returns what was done,
/// in schedule order. Times are nanoseconds from `t0`.
pub async fn run(
    faults: Vec<Fault>,
    seed: u64,
    cluster: &Cluster,
    t0: Instant,
) -> Result<Vec<InjectedFault>, RunError> {
    // Every fault waits for its own time, in this task: they may overlap.
    let tasks = faults.into_iter().enumerate().map(|(i, fault)| {
        // One generator per fault: the draws do not depend on how
        // overlapping faults interleave.
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i as u64));
        async move {
            tokio::time::sleep_until(t0 + fault.at).await;
            let kind = fault.kind.name();
            // An election may be under way (another fault's, or a starved
            // machine's): give it a few election timeouts.
            let leader = cluster.wait_for_leader(LEADER_WITHIN).await;
            let Some(leader) = leader else {
                let start_ns = t0.elapsed().as_nanos() as u64;
                let confirmed = "skipped: no leader to target".into();
                return Ok(InjectedFault { kind, target: vec![], start_ns, end_ns: start_ns, confirmed });
            };
            let mut others: Vec<NodeId> = cluster.members().into_iter().filter(|&id| id != leader).collect();
            others.shuffle(&mut rng);
            let aim = Aim { cluster, leader, others, rng: &mut rng };
            let Injected { target, in_effect, confirmed, heal } = fault::family(fault.kind).inject(&fault, aim).await?;
            let start_ns = (in_effect - t0).as_nanos() as u64;
            eprintln!("[{:>6.1}s] {kind} {target:?}: {confirmed}", start_ns as f64 / 1e9);
            if let Some(heal) = heal {
                tokio::time::sleep_until(t0 + fault.at + fault.lasts).await;
                heal.heal(cluster).await?;
            }
            let end_ns = t0.elapsed().as_nanos() as u64;
            Ok(InjectedFault { kind, target, start_ns, end_ns, confirmed })
        }
    });
    futures_util::future::join_all(tasks).await.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_schedule() {
        let yaml = "cluster: {size: 3}\nworkload: w.yaml\nseed: 9\nnemesis: {every: 4s, for: 2s}\n";
        let file: ScenarioFile = serde_yaml_ng::from_str(yaml).unwrap();
        let plan = |f: &ScenarioFile| -> Vec<(Duration, FaultKind)> {
            schedule(f, Duration::from_secs(60)).iter().map(|f| (f.at, f.kind)).collect()
        };
        let first = plan(&file);
        assert_eq!(first.len(), 14, "every 4 s from 4 s, ending 1 s before 60 s");
        assert_eq!(first, plan(&file));
        let kinds: BTreeSet<String> = first.iter().map(|(_, k)| k.name()).collect();
        assert!(kinds.len() > 3, "draws vary: {kinds:?}");
        let other: ScenarioFile = serde_yaml_ng::from_str(&yaml.replace("seed: 9", "seed: 10")).unwrap();
        assert_ne!(first, plan(&other));
    }
}
