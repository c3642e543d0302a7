//! Faults as families (kill, pause, partition, packet, clock, damage, disk,
//! failpoint, membership, power, snapshot). Each family injects its kinds of fault, shows that the fault
//! took effect, hands back what heals it, and states what it needs of the
//! system and the backend, so that a scenario asking for what they cannot
//! do is refused before anything runs. A new kind of fault is a variant of
//! `scenario::FaultKind` plus the family module that injects it (and its
//! arm in [`family`]).

mod clock;
mod damage;
mod disk;
mod failpoint;
mod kill;
mod membership;
mod packet;
mod partition;
mod pause;
mod power;
mod snapshot;

use std::collections::BTreeSet;

use futures_util::future::BoxFuture;
use rand_chacha::ChaCha8Rng;

pub use partition::cut_pairs;
use tokio::time::Instant;

use crate::backend::{BackendCapability, NodeId};
use crate::cluster::Cluster;
use crate::runner::RunError;
use crate::scenario::{Fault, FaultKind, ScenarioFile};
use crate::system::SystemCapability;

/// Whom a fault is aimed at: drawn when it starts.
pub struct Aim<'a> {
    pub cluster: &'a Cluster,
    pub leader: NodeId,
    /// The members other than the leader, in random order.
    pub others: Vec<NodeId>,
    /// The fault's own generator, for any further draws.
    pub rng: &'a mut ChaCha8Rng,
}

/// A fault in effect.
pub struct Injected {
    pub target: Vec<NodeId>,
    /// When its mechanism was in place (the last rule installed, the
    /// process gone), before any confirmation: recovery counts from here.
    /// Counted from the call, a write acknowledged while the rules went in
    /// would pass for a recovery of a few milliseconds.
    pub in_effect: Instant,
    /// How it was shown to have taken effect; starts with "NOT confirmed"
    /// when it was not.
    pub confirmed: String,
    /// What ends it; none for changes that stay (membership, transfers).
    pub heal: Option<Box<dyn Heal>>,
}

/// Ends one fault.
pub trait Heal: Send {
    fn heal(self: Box<Self>, cluster: &Cluster) -> BoxFuture<'_, Result<(), RunError>>;
}

/// One thing a family needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    System(SystemCapability),
    Backend(BackendCapability),
    /// Cutting links: the backend's packet cuts, or else the system's cut
    /// hooks.
    LinkCuts,
}

pub trait Family: Sync {
    /// What `kind` (one of this family's) needs.
    fn needs(&self, kind: FaultKind) -> Vec<Need>;
    fn inject<'a>(&'a self, fault: &'a Fault, aim: Aim<'a>) -> BoxFuture<'a, Result<Injected, RunError>>;
}

/// The family that injects `kind`.
pub fn family(kind: FaultKind) -> &'static dyn Family {
    use FaultKind::*;
    match kind {
        KillLeader | KillFollower | KillRandom | KillMinority | KillMajority => &kill::Kill,
        PauseLeader => &pause::Pause,
        IsolateLeader | IsolateFollower | LeaderOutbound | LeaderInbound | PartitionHalves | Bridge
        | MajoritiesRing => &partition::Partition,
        SkewLeaderClock => &clock::Clock,
        SlowFollowerDisks => &disk::Disk,
        AddVoters | RemoveVoters | TransferLeader => &membership::Membership,
        PowerLoss => &power::Power,
        WipeNode | CorruptWal | CorruptSnapshot => &damage::Damage,
        DiskError | DiskFull | CrashAt => &failpoint::Failpoints,
        SnapshotTransfer => &snapshot::SnapshotTransfer,
        NetDelay | NetLoss | NetDuplicate | NetReorder | NetBandwidth => &packet::Packet,
    }
}

/// What the chosen system and backend can do, by name.
pub struct Abilities<'a> {
    pub system: &'a str,
    pub system_can: BTreeSet<SystemCapability>,
    pub backend: &'a str,
    pub backend_can: BTreeSet<BackendCapability>,
}

impl Abilities<'_> {
    /// What `kind` needs that is missing here, if anything.
    pub fn lacks(&self, kind: FaultKind) -> Option<String> {
        let system = |c: SystemCapability| format!("{}, which the {} system lacks", c.describe(), self.system);
        let backend = |c: BackendCapability| format!("{}, which the {} backend lacks", c.describe(), self.backend);
        let missing: Vec<String> = family(kind)
            .needs(kind)
            .into_iter()
            .filter_map(|need| match need {
                Need::System(c) => (!self.system_can.contains(&c)).then(|| system(c)),
                Need::Backend(c) => (!self.backend_can.contains(&c)).then(|| backend(c)),
                Need::LinkCuts => (!self.backend_can.contains(&BackendCapability::PacketCuts)
                    && !self.system_can.contains(&SystemCapability::CutHooks))
                .then(|| {
                    format!("{} or else {}", backend(BackendCapability::PacketCuts), system(SystemCapability::CutHooks))
                }),
            })
            .collect();
        (!missing.is_empty()).then(|| format!("{} needs {}", kind.name(), missing.join(", and ")))
    }

    /// Refuses a scenario with a fault, listed or drawn at random, that
    /// cannot run here; the error names the first such fault.
    pub fn refuse_unsupported(&self, file: &ScenarioFile) -> Result<(), String> {
        for (i, f) in file.faults.iter().enumerate() {
            if let Some(why) = self.lacks(f.kind) {
                return Err(format!("faults[{i}]: {why}"));
            }
        }
        if let Some(n) = &file.nemesis {
            let (kinds, field): (&[FaultKind], _) = if n.kinds.is_empty() {
                (&FaultKind::HEALING, "nemesis (drawing from every kind that heals; list nemesis.kinds)")
            } else {
                (&n.kinds, "nemesis.kinds")
            };
            if let Some(why) = kinds.iter().find_map(|&k| self.lacks(k)) {
                return Err(format!("{field}: {why}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raft_node_on_a_backend_with(backend_can: &[BackendCapability]) -> Abilities<'static> {
        Abilities {
            system: "raft-node",
            system_can: BTreeSet::from([SystemCapability::ClockSkew, SystemCapability::SlowDisk]),
            backend: "test",
            backend_can: backend_can.iter().copied().collect(),
        }
    }

    fn scenario(faults: &str) -> ScenarioFile {
        serde_yaml_ng::from_str(&format!("cluster: {{size: 3}}\nworkload: w.yaml\n{faults}")).unwrap()
    }

    #[test]
    fn a_fault_the_backend_or_system_cannot_do_is_refused_naming_both_and_what_is_missing() {
        let here = raft_node_on_a_backend_with(&[BackendCapability::PacketCuts]);
        let pause =
            scenario("faults:\n  - {at: 1s, for: 1s, kind: kill_leader}\n  - {at: 2s, for: 1s, kind: pause_leader}\n");
        assert_eq!(
            here.refuse_unsupported(&pause).unwrap_err(),
            "faults[1]: pause_leader needs pausing a member, which the test backend lacks"
        );
        let power = scenario("faults:\n  - {at: 1s, for: 1s, kind: power_loss}\n");
        let e = here.refuse_unsupported(&power).unwrap_err();
        assert!(
            e.contains("durable-write marker") && e.contains("raft-node system") && e.contains("test backend"),
            "{e}"
        );
        let delay = scenario("faults:\n  - {at: 1s, for: 1s, kind: net_delay, delay: 20ms}\n");
        assert_eq!(
            here.refuse_unsupported(&delay).unwrap_err(),
            "faults[0]: net_delay needs packet shaping (iptables NFQUEUE, as root), which the test backend lacks"
        );
        let cut = scenario("faults:\n  - {at: 1s, for: 1s, kind: isolate_leader}\n");
        assert_eq!(here.refuse_unsupported(&cut), Ok(()), "the backend cuts packets");
        let hookless = raft_node_on_a_backend_with(&[]);
        let e = hookless.refuse_unsupported(&cut).unwrap_err();
        assert!(e.contains("packet cuts") && e.contains("fault hooks that cut links"), "{e}");
    }

    #[test]
    fn the_random_nemesis_is_refused_for_the_kinds_it_would_draw() {
        let here = raft_node_on_a_backend_with(&[BackendCapability::PacketCuts]);
        let every = scenario("nemesis: {every: 4s, for: 2s}\n");
        assert!(here.refuse_unsupported(&every).unwrap_err().starts_with("nemesis (drawing from every kind"));
        let listed = scenario("nemesis: {every: 4s, for: 2s, kinds: [kill_leader, skew_leader_clock]}\n");
        assert_eq!(here.refuse_unsupported(&listed), Ok(()));
    }
}
