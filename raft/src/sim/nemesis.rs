//! The faults: drawn from the seed, each undone by itself or at the final heal.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::raft::{Durable, Role};
use crate::sim::Options;
use crate::sim::world::{Event, TICK, World, up_ids};
use crate::types::{ConfChange, NodeId};

/// The knobs of one run, drawn from its seed so that seeds differ in
/// character as well as in detail (some lossy, some with tiny messages...).
#[derive(Clone, Debug)]
pub struct Params {
    pub drop_rate: f64,
    pub duplicate_rate: f64,
    pub long_delay_rate: f64,
    /// Messages on one link may overtake each other.
    pub reorder: bool,
    pub max_delay: u64,
    pub max_disk_latency: u64,
    pub max_msg_entries: usize,
    pub max_inflight_msgs: usize,
    pub compact_every: u64,
    pub max_clock_drift: f64,
    /// Chance that a node crashes just after sending a vote.
    pub crash_after_vote: f64,
    /// Mean ticks between faults.
    pub fault_gap: u64,
}

impl Params {
    pub fn draw(rng: &mut ChaCha8Rng, _options: &Options) -> Params {
        Params {
            drop_rate: [0.0, 0.02, 0.1][rng.random_range(0..3)],
            duplicate_rate: [0.0, 0.05][rng.random_range(0..2)],
            long_delay_rate: [0.0, 0.01, 0.05][rng.random_range(0..3)],
            reorder: rng.random_bool(0.5),
            max_delay: [TICK / 4, TICK, 3 * TICK][rng.random_range(0..3)],
            max_disk_latency: [TICK / 10, TICK / 2, 2 * TICK][rng.random_range(0..3)],
            max_msg_entries: [2, 16, 256][rng.random_range(0..3)],
            max_inflight_msgs: [4, 256][rng.random_range(0..2)],
            compact_every: [10, 50, 1000][rng.random_range(0..3)],
            max_clock_drift: [0.0, 0.05, 0.2][rng.random_range(0..3)],
            crash_after_vote: [0.0, 0.3][rng.random_range(0..2)],
            fault_gap: [4, 12, 30][rng.random_range(0..3)],
        }
    }

    pub fn nemesis_interval(&self, rng: &mut ChaCha8Rng) -> u64 {
        rng.random_range(TICK..2 * self.fault_gap * TICK)
    }
}

/// What the nemesis remembers between faults.
#[derive(Default)]
pub struct Nemesis {
    /// The next id for a joining node; ids are never reused.
    pub next_id: NodeId,
}

impl World {
    pub(crate) fn nemesis_step(&mut self) {
        match self.rng.random_range(0..100) {
            0..25 => self.crash_some(),
            25..40 => self.partition_halves(),
            40..50 => self.isolate_leader(),
            50..62 => self.cut_one_way(),
            62..77 => self.transfer(),
            77..87 => self.grow(),
            87..94 => self.promote(),
            _ => self.shrink(),
        }
    }

    fn restart_after(&mut self, id: NodeId) {
        // Sometimes at once, which is when a forgotten vote is most harmful.
        let delay = if self.rng.random_bool(0.3) {
            self.rng.random_range(TICK / 100..TICK / 2)
        } else {
            self.rng.random_range(TICK..30 * TICK)
        };
        self.schedule(delay, Event::Restart(id));
    }

    fn crash_some(&mut self) {
        let up: Vec<NodeId> = up_ids(&self.nodes).into_iter().collect();
        if up.is_empty() {
            return;
        }
        let leaders = self.leaders();
        let victim = if !leaders.is_empty() && self.rng.random_bool(0.5) {
            leaders[0]
        } else {
            up[self.rng.random_range(0..up.len())]
        };
        self.crash(victim);
        self.restart_after(victim);
        if self.rng.random_bool(0.15) {
            let up: Vec<NodeId> = up_ids(&self.nodes).into_iter().collect();
            if let Some(&second) = up.get(self.rng.random_range(0..up.len().max(1))) {
                self.crash(second);
                self.restart_after(second);
            }
        }
    }

    /// The leader just told `leader`'s successor to campaign. Half the time it
    /// stops hearing from anyone right then: it keeps believing it leads,
    /// which is where a lease that survives the transfer serves stale reads.
    pub(crate) fn maybe_cut_off_old_leader(&mut self, leader: NodeId) {
        if self.healed || !self.rng.random_bool(0.5) {
            return;
        }
        let links: Vec<(NodeId, NodeId)> =
            self.nodes.keys().filter(|&&id| id != leader).map(|&id| (id, leader)).collect();
        self.stats.one_way_cuts += 1;
        self.cut(links, 15);
    }

    fn cut(&mut self, links: Vec<(NodeId, NodeId)>, max_ticks: u64) {
        for &link in &links {
            *self.blocked.entry(link).or_insert(0) += 1;
        }
        let duration = self.rng.random_range(2 * TICK..max_ticks * TICK);
        self.schedule(duration, Event::HealLinks(links));
    }

    fn partition_halves(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let side: Vec<bool> = ids.iter().map(|_| self.rng.random_bool(0.5)).collect();
        let mut links = Vec::new();
        for (i, a) in ids.iter().enumerate() {
            for (j, b) in ids.iter().enumerate() {
                if side[i] != side[j] {
                    links.push((*a, *b));
                }
            }
        }
        self.stats.partitions += 1;
        self.cut(links, 40);
    }

    fn isolate_leader(&mut self) {
        let Some(&leader) = self.leaders().first() else { return };
        let links =
            self.nodes.keys().filter(|&&id| id != leader).flat_map(|&id| [(leader, id), (id, leader)]).collect();
        self.stats.partitions += 1;
        self.cut(links, 30);
    }

    fn cut_one_way(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let leaders = self.leaders();
        let mut links = Vec::new();
        for _ in 0..self.rng.random_range(1..=3) {
            let from = if !leaders.is_empty() && self.rng.random_bool(0.5) {
                leaders[0]
            } else {
                ids[self.rng.random_range(0..ids.len())]
            };
            let to = ids[self.rng.random_range(0..ids.len())];
            if from != to {
                links.push((from, to));
            }
        }
        self.stats.one_way_cuts += 1;
        self.cut(links, 30);
    }

    fn leader_raft(&mut self) -> Option<(NodeId, &mut crate::raft::Raft)> {
        let leader = *self.leaders().first()?;
        let raft = self.nodes.get_mut(&leader)?.raft.as_mut()?;
        (raft.role() == Role::Leader).then_some((leader, raft))
    }

    fn transfer(&mut self) {
        let pick: f64 = self.rng.random_range(0.0..1.0);
        let Some((leader, raft)) = self.leader_raft() else { return };
        let voters: Vec<NodeId> = raft.conf().voters.iter().copied().filter(|&v| v != leader).collect();
        if voters.is_empty() {
            return;
        }
        let target = voters[(pick * voters.len() as f64) as usize];
        if raft.transfer_leader(target).is_ok() {
            self.stats.transfers += 1;
        }
        self.process_ready(leader);
    }

    /// Adds a brand-new node as a learner (it starts empty and knows no
    /// membership until the leader's log or snapshot reaches it).
    fn grow(&mut self) {
        let members = match self.leader_raft() {
            Some((_, raft)) => raft.conf().members().count(),
            None => return,
        };
        if members >= self.options.nodes + 2 {
            return;
        }
        let id = self.nemesis.next_id;
        let Some((leader, raft)) = self.leader_raft() else { return };
        if raft.propose_conf_change(ConfChange::AddLearner(id)).is_ok() {
            self.nemesis.next_id += 1;
            self.stats.conf_changes += 1;
            self.add_node(id, Durable::default());
        }
        self.process_ready(leader);
    }

    fn promote(&mut self) {
        let Some((leader, raft)) = self.leader_raft() else { return };
        let Some(&learner) = raft.conf().learners.iter().next() else { return };
        if raft.propose_conf_change(ConfChange::Promote(learner)).is_ok() {
            self.stats.conf_changes += 1;
        }
        self.process_ready(leader);
    }

    fn shrink(&mut self) {
        let pick: f64 = self.rng.random_range(0.0..1.0);
        let min_voters = self.options.nodes.max(3);
        let Some((leader, raft)) = self.leader_raft() else { return };
        let voters: Vec<NodeId> = raft.conf().voters.iter().copied().collect();
        if voters.len() <= min_voters {
            return;
        }
        // The leader itself is a fair target: removing it is a case to cover.
        let victim = voters[(pick * voters.len() as f64) as usize];
        if raft.propose_conf_change(ConfChange::Remove(victim)).is_ok() {
            self.stats.conf_changes += 1;
        }
        self.process_ready(leader);
    }
}
