//! Links cut one way or both, in the shapes the scenario names (an
//! isolated node, halves, a bridge, a ring of majorities), by the backend's
//! packet cuts or else the system's hooks; each cut link is uncut when the
//! fault ends.

use futures_util::future::BoxFuture;
use rand::Rng;
use rand::seq::SliceRandom;
use tokio::time::Instant;

use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::{CutMechanism, NodeId};
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind};

pub struct Partition;

impl Family for Partition {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::LinkCuts]
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let members = aim.cluster.members();
            let pairs = cut_pairs(fault.kind, aim.leader, &aim.others, aim.rng);
            for &(from, to) in &pairs {
                aim.cluster.cut(from, to).await?;
            }
            let in_effect = Instant::now();
            let target = partition_target(fault.kind, &members, &pairs);
            let confirmed = if aim.cluster.cut_mechanism() != CutMechanism::AdminHooks {
                confirm_cuts(aim.cluster, &members, &pairs).await?
            } else {
                "admin hooks set (no packet probe possible)".into()
            };
            Ok(Injected { target, in_effect, confirmed, heal: Some(Box::new(Uncut(pairs))) })
        })
    }
}

struct Uncut(Vec<(NodeId, NodeId)>);

impl Heal for Uncut {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            for (from, to) in self.0 {
                cluster.uncut(from, to).await?;
            }
            Ok(())
        })
    }
}

/// Probes one cut link (and its reverse) and one link that should be open.
/// Members that also send over connections their peers opened (etcd) lose
/// both directions of a link cut one way (see `backend::Firewall`): the
/// reverse of a one-way cut is then shown but not judged (whether a probe
/// connects depends on whether the backend's rules see the handshake), and
/// the open link is one cut neither way.
async fn confirm_cuts(cluster: &Cluster, members: &[NodeId], pairs: &[(NodeId, NodeId)]) -> Result<String, RunError> {
    let Some(&(a, b)) = pairs.first() else { return Ok("nothing to cut".into()) };
    let two_way = cluster.system().sends_over_accepted_connections();
    let stalled = |x, y| pairs.contains(&(x, y)) || (two_way && pairs.contains(&(y, x)));
    let reverse = if pairs.contains(&(b, a)) { Some(false) } else { (!two_way).then_some(true) };
    let mut probes = vec![(a, b, Some(false)), (b, a, reverse)];
    let open =
        members.iter().flat_map(|&x| members.iter().map(move |&y| (x, y))).find(|&(x, y)| x != y && !stalled(x, y));
    if let Some((x, y)) = open.filter(|&(x, y)| (x, y) != (b, a)) {
        probes.push((x, y, Some(true)));
    }
    let mut seen = Vec::new();
    let mut wrong = false;
    for (from, to, expect_open) in probes {
        let is_open = cluster.backend().await.probe(from, to).await?.is_some();
        wrong |= expect_open.is_some_and(|open| open != is_open);
        seen.push(format!("{from}->{to} {}", if is_open { "open" } else { "cut" }));
    }
    let note = if two_way && pairs.iter().any(|&(x, y)| !pairs.contains(&(y, x))) {
        " (this system's members also send on connections their peers opened: a one-way cut stalls both ways)"
    } else {
        ""
    };
    Ok(format!("{}probe {}{note}", if wrong { "NOT confirmed: " } else { "" }, seen.join(", ")))
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

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
}
