//! Packet faults on one node's links (the leader's or a follower's, one
//! way or both): delay with jitter, loss, duplication, reordering, a rate
//! limit, by the backend's user-space shaper (`backend::shaper`), removed
//! when the fault ends.
//!
//! Each is confirmed by measuring it where it can be measured from outside:
//! a probe connection's time shows a delay (its SYN is held), a burst of
//! probes shows loss (a lost SYN is not retried within the probe's 500 ms)
//! and reordering (some connect at once, some after the delay).
//! Duplicates and a rate cannot be seen by a connecting probe; they are
//! shown by the shaper's own count of what it did to the link's traffic,
//! and the confirmation says so.

use std::time::Duration;

use futures_util::future::BoxFuture;
use rand::RngExt;
use tokio::time::Instant;

use super::{Aim, Family, Heal, Injected, Need};
use crate::backend::{BackendCapability, NodeId, ShapeCounts, ShapeId, Shaping};
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Direction, Fault, FaultKind, Role};

pub struct Packet;

impl Family for Packet {
    fn needs(&self, _: FaultKind) -> Vec<Need> {
        vec![Need::Backend(BackendCapability::PacketShaping)]
    }

    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>> {
        Box::pin(async move {
            let node = match (fault.node, aim.others.first()) {
                (Role::Follower, Some(&follower)) => follower,
                _ => aim.leader,
            };
            let peers: Vec<NodeId> = aim.cluster.members().into_iter().filter(|&id| id != node).collect();
            let links = node_links(node, &peers, fault.direction);
            let Some(&probe) = links.first() else {
                let (in_effect, confirmed) = (Instant::now(), "nothing to shape".into());
                return Ok(Injected { target: vec![node], in_effect, confirmed, heal: None });
            };
            let shaping = shaping(fault);
            let before = median_connect(aim.cluster, probe, 3).await?;
            let seed = aim.rng.random();
            let id = aim.cluster.backend().await.shape(&links, &shaping, seed).await?;
            let in_effect = Instant::now();
            let confirmed = confirm(fault.kind, &shaping, aim.cluster, id, probe, before).await?;
            Ok(Injected { target: vec![node], in_effect, confirmed, heal: Some(Box::new(Unshape(id))) })
        })
    }
}

struct Unshape(ShapeId);

impl Heal for Unshape {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>> {
        Box::pin(async move {
            cluster.backend().await.unshape(self.0).await?;
            Ok(())
        })
    }
}

/// The links of `node` a fault in `direction` shapes, as (from, to).
fn node_links(node: NodeId, peers: &[NodeId], direction: Direction) -> Vec<(NodeId, NodeId)> {
    let outbound = peers.iter().map(|&p| (node, p));
    let inbound = peers.iter().map(|&p| (p, node));
    match direction {
        Direction::Outbound => outbound.collect(),
        Direction::Inbound => inbound.collect(),
        Direction::Both => outbound.chain(inbound).collect(),
    }
}

/// The fault's impairment, with each kind's defaults.
fn shaping(fault: &Fault) -> Shaping {
    let share = |default: f64| fault.percent.unwrap_or(default);
    match fault.kind {
        FaultKind::NetDelay => Shaping { delay: fault.delay, jitter: fault.jitter, ..Shaping::default() },
        FaultKind::NetLoss => Shaping { loss: share(0.1), ..Shaping::default() },
        FaultKind::NetDuplicate => Shaping { duplicate: share(0.1), ..Shaping::default() },
        FaultKind::NetReorder => Shaping { delay: fault.delay, reorder: share(0.25), ..Shaping::default() },
        FaultKind::NetBandwidth => Shaping { rate: Some(fault.rate.unwrap_or(125_000)), ..Shaping::default() },
        _ => Shaping::default(),
    }
}

/// How long each of `n` probes over `link` took to connect (`None`: lost).
async fn connects(
    cluster: &Cluster,
    (from, to): (NodeId, NodeId),
    n: usize,
) -> Result<Vec<Option<Duration>>, RunError> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(cluster.backend().await.probe(from, to).await?);
    }
    Ok(times)
}

/// The median connect time of `n` probes that connected.
async fn median_connect(cluster: &Cluster, link: (NodeId, NodeId), n: usize) -> Result<Option<Duration>, RunError> {
    let mut times: Vec<Duration> = connects(cluster, link, n).await?.into_iter().flatten().collect();
    times.sort();
    Ok(times.get(times.len() / 2).copied())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn confirm(
    kind: FaultKind,
    shaping: &Shaping,
    cluster: &Cluster,
    id: ShapeId,
    link: (NodeId, NodeId),
    before: Option<Duration>,
) -> Result<String, RunError> {
    let (from, to) = link;
    let counts = || async { cluster.backend().await.shape_counts(id) };
    let (ok, text) = match kind {
        FaultKind::NetDelay => {
            let after = median_connect(cluster, link, 5).await?;
            let least = (shaping.delay - shaping.jitter.min(shaping.delay)).mul_f64(0.8);
            let shown = match (before, after) {
                (Some(b), Some(a)) => a.saturating_sub(b) >= least,
                _ => false,
            };
            let show = |d: Option<Duration>| d.map_or("never".to_string(), ms);
            (
                shown,
                format!("probe {from}->{to} connects in {} before, {} after (median of 5)", show(before), show(after)),
            )
        }
        FaultKind::NetReorder => {
            // At once: within half the delay of an unshaped connect (a
            // loaded machine slows every connect alike).
            let quick = before.unwrap_or_default() + shaping.delay / 2;
            let times = connects(cluster, link, 20).await?;
            let at_once = times.iter().flatten().filter(|t| **t < quick).count();
            let held = times.iter().flatten().filter(|t| **t >= shaping.delay.mul_f64(0.8)).count();
            let text = format!("probe {from}->{to}: {at_once} of 20 connects at once, {held} held {:?}", shaping.delay);
            (at_once > 0 && held > 0, text)
        }
        FaultKind::NetLoss => {
            let tries = probes_to_see(shaping.loss);
            let mut through = 0;
            while through < tries && cluster.backend().await.probe(from, to).await?.is_some() {
                through += 1;
            }
            let text = if through < tries {
                format!(
                    "probe {from}->{to}: connect {} of a burst lost (its SYN dropped), {through} through",
                    through + 1
                )
            } else {
                format!("probe {from}->{to}: all {tries} connects of a burst through")
            };
            (through < tries, text)
        }
        FaultKind::NetDuplicate => {
            let tries = probes_to_see(shaping.duplicate);
            let mut sent = 0;
            while sent < tries && counts().await.duplicated == 0 {
                cluster.backend().await.probe(from, to).await?;
                sent += 1;
            }
            let c = counts().await;
            (
                c.duplicated > 0,
                format!("by the shaper's count: {} of {} packets sent twice ({sent} probes)", c.duplicated, c.seen),
            )
        }
        FaultKind::NetBandwidth => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let c = counts().await;
            let limit = shaping.rate.unwrap_or(0);
            (c.bytes_passed > 0, format!("by the shaper's count: {} (limit {} B/s)", throughput(&c), limit))
        }
        _ => (false, "not a packet fault".into()),
    };
    Ok(if ok { text } else { format!("NOT confirmed: {text}") })
}

/// How many probes make missing an effect of share `p` less likely than
/// 1 in 10 000 (at most 200).
fn probes_to_see(p: f64) -> usize {
    if p <= 0.0 || p >= 1.0 {
        return 1;
    }
    ((1e-4f64).ln() / (1.0 - p).ln()).ceil().clamp(1.0, 200.0) as usize
}

fn throughput(c: &ShapeCounts) -> String {
    let seconds = c.passing_for.as_secs_f64();
    let rate = if seconds > 0.0 { format!("{:.0} B/s", c.bytes_passed as f64 / seconds) } else { "-".into() };
    format!("{} B passed over {:.2} s ({rate}), {} of {} packets dropped", c.bytes_passed, seconds, c.dropped, c.seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direction_picks_the_nodes_links() {
        assert_eq!(node_links(1, &[2, 3], Direction::Outbound), vec![(1, 2), (1, 3)]);
        assert_eq!(node_links(1, &[2, 3], Direction::Inbound), vec![(2, 1), (3, 1)]);
        assert_eq!(node_links(1, &[2], Direction::Both), vec![(1, 2), (2, 1)]);
    }

    #[test]
    fn a_burst_is_long_enough_to_see_its_share() {
        assert_eq!(probes_to_see(0.5), 14);
        assert_eq!(probes_to_see(0.1), 88);
        assert_eq!(probes_to_see(0.01), 200, "capped");
        assert!((1.0 - 0.1f64).powi(probes_to_see(0.1) as i32) < 1e-4);
    }
}
