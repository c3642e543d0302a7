//! The fault schedule: the scenario's own faults plus a seeded random
//! nemesis, each injected at its time (they may overlap), confirmed, and
//! healed when its window ends.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::time::Instant;

use crate::backend::{CutMechanism, NodeId};
use crate::cluster::{Cluster, wait_until};
use crate::runner::RunError;
use crate::scenario::{self, Fault, FaultKind, ScenarioFile};
use crate::system::Role;

/// One injected fault, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct InjectedFault {
    pub kind: String,
    pub target: Vec<NodeId>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// How the injection was shown to have taken effect.
    pub confirmed: String,
}

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
            let (count, skew, delay) = (scenario::one(), scenario::default_skew(), scenario::default_disk_delay());
            faults.push(Fault { at, lasts: n.lasts, kind, count, skew, delay });
            at += n.every;
        }
    }
    faults.sort_by_key(|f| f.at);
    faults
}

/// What ends a fault.
enum Undo {
    Restart(Vec<NodeId>),
    Resume(NodeId),
    Uncut(Vec<(NodeId, NodeId)>),
    Unskew(NodeId),
    FastDisks(Vec<NodeId>),
    Nothing,
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
            let leader = cluster.find_leader().await;
            // From here, not from the planned time: finding the leader can
            // take a while, and recovery counts from the injection.
            let start_ns = t0.elapsed().as_nanos() as u64;
            let Some(leader) = leader else {
                let confirmed = "skipped: no leader to target".into();
                return Ok(InjectedFault { kind, target: vec![], start_ns, end_ns: start_ns, confirmed });
            };
            let (target, confirmed, undo) = inject(&fault, leader, cluster, &mut rng).await?;
            eprintln!("[{:>6.1}s] {kind} {target:?}: {confirmed}", start_ns as f64 / 1e9);
            if !fault.kind.is_permanent() {
                tokio::time::sleep_until(t0 + fault.at + fault.lasts).await;
                heal(undo, cluster).await?;
            }
            let end_ns = t0.elapsed().as_nanos() as u64;
            Ok(InjectedFault { kind, target, start_ns, end_ns, confirmed })
        }
    });
    futures_util::future::join_all(tasks).await.into_iter().collect()
}

async fn heal(undo: Undo, cluster: &Cluster) -> Result<(), RunError> {
    match undo {
        Undo::Restart(ids) => {
            for id in ids {
                cluster.restart(id).await?;
            }
        }
        // It may have been killed meanwhile by an overlapping fault.
        Undo::Resume(id) => drop(cluster.resume(id).await),
        Undo::Uncut(pairs) => {
            for (from, to) in pairs {
                cluster.uncut(from, to).await?;
            }
        }
        Undo::Unskew(id) => cluster.skew_clock(id, 0).await?,
        Undo::FastDisks(ids) => {
            for id in ids {
                cluster.slow_disk(id, Duration::ZERO).await?;
            }
        }
        Undo::Nothing => {}
    }
    Ok(())
}

/// Injects one fault and shows it took effect.
async fn inject(
    fault: &Fault,
    leader: NodeId,
    cluster: &Cluster,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<NodeId>, String, Undo), RunError> {
    let members = cluster.members();
    let mut others: Vec<NodeId> = members.iter().copied().filter(|&id| id != leader).collect();
    others.shuffle(rng);
    let kind = fault.kind;
    match kind {
        FaultKind::KillLeader
        | FaultKind::KillFollower
        | FaultKind::KillRandom
        | FaultKind::KillMinority
        | FaultKind::KillMajority => {
            let leader_first = || std::iter::once(leader).chain(others.iter().copied());
            let victims: Vec<NodeId> = match kind {
                FaultKind::KillLeader => vec![leader],
                FaultKind::KillFollower => others.first().copied().into_iter().collect(),
                FaultKind::KillRandom => vec![members[rng.random_range(0..members.len())]],
                FaultKind::KillMinority => leader_first().take((members.len() - 1) / 2).collect(),
                _ => leader_first().take(members.len() / 2 + 1).collect(),
            };
            cluster.kill(&victims).await?;
            let note = confirm_dead(cluster, &victims, "processes gone; status refused".into()).await;
            Ok((victims.clone(), note, Undo::Restart(victims)))
        }
        FaultKind::PowerLoss => {
            let lost = cluster.power_loss(&members).await?;
            let note = confirm_dead(cluster, &members, format!("all down; {}", lost.join("; "))).await;
            for &id in &others {
                cluster.restart(id).await?;
            }
            let target = std::iter::once(leader).chain(others).collect();
            Ok((target, note, Undo::Restart(vec![leader])))
        }
        FaultKind::PauseLeader => {
            cluster.pause(leader).await?;
            let answered = cluster.status(leader).await.is_some();
            let note = if answered { "NOT confirmed: node answered" } else { "status timed out while paused" };
            Ok((vec![leader], note.into(), Undo::Resume(leader)))
        }
        FaultKind::SkewLeaderClock => {
            let ppm = (fault.skew * 1e6) as i64;
            cluster.skew_clock(leader, ppm).await?;
            let note = format!("fault hook accepted: clock rate {:+.0}%", fault.skew * 100.0);
            Ok((vec![leader], note, Undo::Unskew(leader)))
        }
        FaultKind::SlowFollowerDisks => {
            for &id in &others {
                cluster.slow_disk(id, fault.delay).await?;
            }
            let note = format!("fault hooks accepted: +{:?} per fsync", fault.delay);
            Ok((others.clone(), note, Undo::FastDisks(others)))
        }
        FaultKind::TransferLeader => {
            let target = others[0];
            cluster.transfer_leader(target).await?;
            let moved = wait_until(Duration::from_secs(10), async || cluster.find_leader().await == Some(target)).await;
            let note = if moved { "the target leads" } else { "NOT confirmed: the target did not take over" };
            Ok((vec![leader, target], note.into(), Undo::Nothing))
        }
        FaultKind::AddVoters => add_voters(fault.count, leader, cluster).await,
        FaultKind::RemoveVoters => {
            let removed: Vec<NodeId> = others.iter().copied().take(fault.count as usize).collect();
            for &id in &removed {
                cluster.remove(id).await?;
            }
            let confirmed = match cluster.find_leader().await {
                Some(l) => cluster.voters(l).await.is_some_and(|v| removed.iter().all(|r| !v.contains(r))),
                None => false,
            };
            let note = if confirmed { "gone from the leader's membership" } else { "NOT confirmed: still listed" };
            Ok((removed, note.into(), Undo::Nothing))
        }
        FaultKind::IsolateLeader
        | FaultKind::IsolateFollower
        | FaultKind::LeaderOutbound
        | FaultKind::LeaderInbound
        | FaultKind::PartitionHalves
        | FaultKind::Bridge
        | FaultKind::MajoritiesRing => {
            let pairs = cut_pairs(kind, leader, &others, rng);
            for &(from, to) in &pairs {
                cluster.cut(from, to).await?;
            }
            let mechanism = cluster.cut_mechanism();
            let target = partition_target(kind, &members, &pairs);
            let note = if mechanism == CutMechanism::Iptables {
                confirm_cuts(cluster, &members, &pairs).await?
            } else {
                "admin hooks set (no packet probe possible)".into()
            };
            Ok((target, note, Undo::Uncut(pairs)))
        }
    }
}

async fn confirm_dead(cluster: &Cluster, victims: &[NodeId], ok: String) -> String {
    let mut answering = Vec::new();
    for &v in victims {
        if cluster.status(v).await.is_some() {
            answering.push(v);
        }
    }
    if answering.is_empty() { ok } else { format!("NOT confirmed: {answering:?} still answer") }
}

/// Probes one cut link (and its reverse) and one link that should be open.
async fn confirm_cuts(cluster: &Cluster, members: &[NodeId], pairs: &[(NodeId, NodeId)]) -> Result<String, RunError> {
    let Some(&(a, b)) = pairs.first() else { return Ok("nothing to cut".into()) };
    let mut probes = vec![(a, b, false), (b, a, !pairs.contains(&(b, a)))];
    let open = members
        .iter()
        .flat_map(|&x| members.iter().map(move |&y| (x, y)))
        .find(|&(x, y)| x != y && !pairs.contains(&(x, y)));
    if let Some((x, y)) = open.filter(|&(x, y)| (x, y) != (b, a)) {
        probes.push((x, y, true));
    }
    let mut seen = Vec::new();
    let mut wrong = false;
    for (from, to, expect_open) in probes {
        let is_open = cluster.backend().await.probe(from, to).await?;
        wrong |= is_open != expect_open;
        seen.push(format!("{from}->{to} {}", if is_open { "open" } else { "cut" }));
    }
    Ok(format!("{}probe {}", if wrong { "NOT confirmed: " } else { "" }, seen.join(", ")))
}

/// The nodes a partition is about, for the report: the bridge of a bridge;
/// otherwise those with the most links cut (the isolated node, the
/// minority side; everyone in a ring).
fn partition_target(kind: FaultKind, members: &[NodeId], pairs: &[(NodeId, NodeId)]) -> Vec<NodeId> {
    let cuts = |n: NodeId| pairs.iter().filter(|&&(a, b)| a == n || b == n).count();
    let wanted = if kind == FaultKind::Bridge { 0 } else { members.iter().map(|&n| cuts(n)).max().unwrap_or(0) };
    members.iter().copied().filter(|&n| cuts(n) == wanted).collect()
}

/// The links a partition cuts, as (from, to): one direction each.
/// `others` are the members other than the leader, in random order.
pub fn cut_pairs(kind: FaultKind, leader: NodeId, others: &[NodeId], rng: &mut impl Rng) -> Vec<(NodeId, NodeId)> {
    let both = |a: &[NodeId], b: &[NodeId]| -> Vec<(NodeId, NodeId)> {
        a.iter().flat_map(|&x| b.iter().flat_map(move |&y| [(x, y), (y, x)])).collect()
    };
    let everyone: Vec<NodeId> = std::iter::once(leader).chain(others.iter().copied()).collect();
    match kind {
        FaultKind::IsolateLeader => both(&[leader], others),
        FaultKind::IsolateFollower => {
            let rest: Vec<NodeId> = everyone.iter().copied().filter(|&n| n != others[0]).collect();
            both(&[others[0]], &rest)
        }
        FaultKind::LeaderOutbound => others.iter().map(|&o| (leader, o)).collect(),
        FaultKind::LeaderInbound => others.iter().map(|&o| (o, leader)).collect(),
        FaultKind::PartitionHalves => {
            let minority_size = (everyone.len() - 1) / 2;
            let (minority, majority) = everyone.split_at(minority_size.max(1));
            both(minority, majority)
        }
        FaultKind::Bridge => {
            let mut ring = everyone.clone();
            ring.shuffle(rng);
            let half = ring.len() / 2;
            // ring[half] is the bridge: it keeps both sides.
            both(&ring[..half], &ring[half + 1..])
        }
        FaultKind::MajoritiesRing => {
            let mut ring = everyone.clone();
            ring.shuffle(rng);
            let n = ring.len();
            let majority = n / 2 + 1;
            // Seeing itself and `reach` neighbours on each side gives at
            // least a majority; nodes further round the ring are cut off.
            let reach = (majority - 1).div_ceil(2);
            let mut pairs = Vec::new();
            for i in 0..n {
                for j in 0..n {
                    let distance = (i + n - j) % n;
                    if i != j && distance.min(n - distance) > reach {
                        pairs.push((ring[i], ring[j]));
                    }
                }
            }
            if pairs.is_empty() && n >= 2 {
                // Three nodes all see each other at reach 1: cut one link,
                // so two of them see different majorities.
                pairs = vec![(ring[0], ring[1]), (ring[1], ring[0])];
            }
            pairs
        }
        _ => Vec::new(),
    }
}

async fn add_voters(count: u64, leader: NodeId, cluster: &Cluster) -> Result<(Vec<NodeId>, String, Undo), RunError> {
    let mut added = Vec::new();
    for _ in 0..count {
        let id = cluster.join(leader).await?;
        let caught_up = wait_until(Duration::from_secs(30), async || {
            cluster.status(id).await.is_some_and(|s| s.applied > 0 && s.role == Role::Follower)
        })
        .await;
        if !caught_up {
            return Err(RunError::Cluster(format!("new node {id} did not catch up within 30 s")));
        }
        cluster.promote(id).await?;
        cluster.add_member(id);
        added.push(id);
    }
    let confirmed = match cluster.find_leader().await {
        Some(l) => cluster.voters(l).await.is_some_and(|v| added.iter().all(|a| v.contains(a))),
        None => false,
    };
    let note = if confirmed { "the leader lists them as voters" } else { "NOT confirmed: not all voters yet" };
    Ok((added, note.into(), Undo::Nothing))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// Who each node can send to, after the cuts.
    fn reach(nodes: &[NodeId], pairs: &[(NodeId, NodeId)]) -> BTreeMap<NodeId, BTreeSet<NodeId>> {
        nodes.iter().map(|&a| (a, nodes.iter().copied().filter(|&b| !pairs.contains(&(a, b))).collect())).collect()
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn a_bridge_reaches_both_sides_which_do_not_reach_each_other() {
        for n in [3u64, 5, 7] {
            let nodes: Vec<NodeId> = (1..=n).collect();
            let pairs = cut_pairs(FaultKind::Bridge, 1, &nodes[1..], &mut rng());
            let r = reach(&nodes, &pairs);
            let bridges: Vec<NodeId> = nodes.iter().copied().filter(|a| r[a].len() == n as usize).collect();
            assert_eq!(bridges.len(), 1, "n={n}: {r:?}");
            assert_eq!(partition_target(FaultKind::Bridge, &nodes, &pairs), bridges, "the report names the bridge");
            for a in &nodes {
                assert!(r[a].contains(&bridges[0]) && (r[a].len() as u64) > n / 2, "n={n}: {r:?}");
                for b in &r[a] {
                    assert!(r[b].contains(a), "cuts are symmetric");
                }
            }
        }
    }

    #[test]
    fn in_a_majorities_ring_everyone_sees_a_majority_and_no_two_the_same() {
        for n in [3u64, 5, 7] {
            let nodes: Vec<NodeId> = (1..=n).collect();
            let pairs = cut_pairs(FaultKind::MajoritiesRing, 1, &nodes[1..], &mut rng());
            let r = reach(&nodes, &pairs);
            assert!(!pairs.is_empty(), "n={n}");
            for a in &nodes {
                assert!(r[a].len() as u64 > n / 2, "n={n}: node {a} sees a majority: {r:?}");
            }
            if n > 3 {
                let views: BTreeSet<&BTreeSet<NodeId>> = r.values().collect();
                assert_eq!(views.len(), n as usize, "n={n}: every view differs: {r:?}");
            }
        }
    }

    #[test]
    fn one_way_cuts_go_one_way_and_halves_keep_the_majority_together() {
        let out = cut_pairs(FaultKind::LeaderOutbound, 1, &[2, 3], &mut rng());
        assert_eq!(out, vec![(1, 2), (1, 3)]);
        assert_eq!(partition_target(FaultKind::LeaderOutbound, &[1, 2, 3], &out), vec![1]);
        let halves = cut_pairs(FaultKind::PartitionHalves, 1, &[2, 3, 4, 5], &mut rng());
        let r = reach(&[1, 2, 3, 4, 5], &halves);
        assert_eq!(r[&1], BTreeSet::from([1, 2]), "the leader's side is the minority");
        assert_eq!(r[&5], BTreeSet::from([3, 4, 5]));
        assert_eq!(partition_target(FaultKind::PartitionHalves, &[1, 2, 3, 4, 5], &halves), vec![1, 2]);
    }

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
