//! The event loop: a priority queue of timed events over simulated nodes and
//! a lossy network, with the invariant checker watching every step.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use bytes::Bytes;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::Config;
use crate::raft::{Durable, Raft, Role};
use crate::read::ReadMode;
use crate::sim::invariants::{Check, Checker, Invariant};
use crate::sim::nemesis::{Nemesis, Params};
use crate::sim::node::{Disk, PendingWrite, SimNode, StateMachine};
use crate::sim::{Options, Outcome, Stats, Violation};
use crate::types::{Message, NodeId, Payload, ReadPath};

/// Simulated time units in one nominal tick.
pub const TICK: u64 = 1000;

/// Payloads at or above this mark are the liveness probe's writes.
const PROBE_BASE: u64 = 1 << 62;

#[derive(Debug)]
pub enum Event {
    Tick {
        node: NodeId,
        incarnation: u64,
    },
    Deliver(Message),
    DiskDone {
        node: NodeId,
        incarnation: u64,
        number: u64,
    },
    Restart(NodeId),
    /// Crash a node and bring it back almost at once.
    CrashRestart(NodeId),
    HealLinks(Vec<(NodeId, NodeId)>),
    Client,
    Nemesis,
    FinalHeal,
    Probe,
}

struct Scheduled {
    time: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

struct PendingClientWrite {
    payload: u64,
}

struct PendingClientRead {
    invoked: u64,
    index: Option<(u64, ReadPath)>,
}

pub struct World {
    pub(crate) rng: ChaCha8Rng,
    pub(crate) options: Options,
    pub(crate) params: Params,
    pub(crate) now: u64,
    event_number: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    pub(crate) nodes: BTreeMap<NodeId, SimNode>,
    /// Directed links that drop everything, with how many faults cut them.
    pub(crate) blocked: BTreeMap<(NodeId, NodeId), u32>,
    pub(crate) healed: bool,
    /// Per directed link, when its last message is delivered (ordered links).
    link_clear_at: HashMap<(NodeId, NodeId), u64>,
    checker: Checker,
    pub(crate) stats: Stats,
    next_payload: u64,
    next_ctx: u64,
    writes: HashMap<(NodeId, u64), PendingClientWrite>,
    reads: HashMap<(NodeId, u64), PendingClientRead>,
    probe_term: u64,
    probe_payload: u64,
    violation: Option<Violation>,
    pub(crate) nemesis: Nemesis,
}

impl World {
    pub fn new(options: &Options) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let params = Params::draw(&mut rng, options);
        let mut world = World {
            rng,
            options: options.clone(),
            params,
            now: 0,
            event_number: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            blocked: BTreeMap::new(),
            healed: false,
            link_clear_at: HashMap::new(),
            checker: Checker::default(),
            stats: Stats::default(),
            next_payload: 1,
            next_ctx: 1,
            writes: HashMap::new(),
            reads: HashMap::new(),
            probe_term: 0,
            probe_payload: 0,
            violation: None,
            nemesis: Nemesis::default(),
        };
        let voters: Vec<NodeId> = (1..=options.nodes as u64).collect();
        for &id in &voters {
            world.add_node(id, Durable::bootstrap(voters.clone()));
        }
        world.nemesis.next_id = options.nodes as u64 + 1;
        world.schedule(0, Event::Client);
        world.schedule(world.params.nemesis_interval(&mut ChaCha8Rng::seed_from_u64(options.seed)), Event::Nemesis);
        world.schedule(options.fault_ticks * TICK, Event::FinalHeal);
        world
    }

    pub(crate) fn node_config(&self, id: NodeId) -> Config {
        let mut cfg = Config::new(id);
        cfg.seed = self.options.seed.wrapping_mul(1_000_003).wrapping_add(id);
        cfg.unsafe_bugs = self.options.bugs.clone();
        cfg.max_msg_entries = self.params.max_msg_entries;
        cfg.max_inflight_msgs = self.params.max_inflight_msgs;
        cfg.snapshot_chunk_bytes = 1000;
        cfg.max_clock_drift = self.params.max_clock_drift;
        cfg.max_uncommitted_entries = 64;
        cfg
    }

    /// Starts a node (a bootstrapped member, or one about to join).
    pub(crate) fn add_node(&mut self, id: NodeId, durable: Durable) {
        let raft = Raft::new(self.node_config(id), durable.clone()).expect("the simulation's config is valid");
        let disk = Disk::new(durable.hard_state, durable.snapshot, durable.entries);
        // Clock rates differ by less than the configured bound: a period of
        // TICK / (1 - u * drift) for u in [0, 1).
        let u: f64 = self.rng.random_range(0.0..1.0);
        let period = (TICK as f64 / (1.0 - u * self.params.max_clock_drift)) as u64;
        self.nodes.insert(id, SimNode::new(raft, disk, period));
        let offset = self.rng.random_range(0..period);
        self.schedule(offset, Event::Tick { node: id, incarnation: 0 });
    }

    pub(crate) fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { time: self.now + delay, seq: self.seq, event }));
    }

    pub fn run(mut self) -> Outcome {
        let end = (self.options.fault_ticks + self.options.recovery_ticks) * TICK;
        while self.stats.recovered_at.is_none() && self.violation.is_none() {
            let Some(Reverse(next)) = self.queue.pop() else {
                // Nothing left to happen: the post-heal write can never commit.
                let at = self.now as f64 / TICK as f64;
                self.fail_liveness(format!(
                    "the event queue ran dry at t={at:.3} ticks with no post-heal write applied by a majority"
                ));
                break;
            };
            if next.time > end {
                let ticks = self.options.recovery_ticks;
                self.fail_liveness(format!("no write committed by a majority within {ticks} ticks of the heal"));
                break;
            }
            self.now = next.time;
            self.event_number += 1;
            self.stats.events += 1;
            self.handle(next.event);
        }
        Outcome { violation: self.violation, stats: self.stats }
    }

    /// The run ended without the post-heal write, for the reason `why`.
    fn fail_liveness(&mut self, why: String) {
        let detail = format!("{why}; {}", self.describe_nodes());
        self.violation = Some(Violation { invariant: Invariant::Liveness, detail, time: self.now });
    }

    fn fail(&mut self, check: Check) {
        if let Err((invariant, detail)) = check
            && self.violation.is_none()
        {
            let detail = format!("{detail}\n{}", self.describe_nodes());
            self.violation = Some(Violation { invariant, detail, time: self.now });
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Tick { node, incarnation } => {
                let Some(n) = self.nodes.get_mut(&node) else { return };
                if n.incarnation != incarnation || !n.is_up() {
                    return;
                }
                n.raft.as_mut().expect("up").tick();
                let period = n.tick_period;
                self.schedule(period, Event::Tick { node, incarnation });
                self.process_ready(node);
            }
            Event::Deliver(m) => {
                let to = m.to;
                if self.options.trace {
                    eprintln!("{:>10.3} deliver {m}", self.now as f64 / TICK as f64);
                }
                let Some(raft) = self.nodes.get_mut(&to).and_then(|n| n.raft.as_mut()) else { return };
                raft.step(m);
                self.process_ready(to);
                if self.options.trace
                    && let Some(r) = self.nodes.get(&to).and_then(|n| n.raft.as_ref())
                {
                    let st = r.status();
                    eprintln!(
                        "{:>10} node {to}: {:?} term={} commit={} persisted={} last={} snap={}",
                        "", st.role, st.term, st.commit, st.persisted, st.last_index, st.snapshot_index
                    );
                }
            }
            Event::DiskDone { node, incarnation, number } => {
                let Some(n) = self.nodes.get_mut(&node) else { return };
                if n.incarnation != incarnation || !n.is_up() {
                    return;
                }
                let release = n.complete_writes(number);
                n.disk_busy = false;
                n.raft.as_mut().expect("up").on_persisted(number);
                self.send_all(release);
                self.start_disk_batch(node);
                self.process_ready(node);
            }
            Event::Restart(id) => self.restart(id),
            Event::CrashRestart(id) => {
                self.crash(id);
                let delay = self.rng.random_range(1..TICK / 5);
                self.schedule(delay, Event::Restart(id));
            }
            Event::HealLinks(links) => {
                for link in links {
                    if let Some(count) = self.blocked.get_mut(&link) {
                        *count -= 1;
                        if *count == 0 {
                            self.blocked.remove(&link);
                        }
                    }
                }
            }
            Event::Client => {
                if !self.healed {
                    self.client_op();
                    let gap = self.rng.random_range(TICK / 20..TICK / 2);
                    self.schedule(gap, Event::Client);
                }
            }
            Event::Nemesis => {
                if !self.healed {
                    self.nemesis_step();
                    let mut rng = ChaCha8Rng::seed_from_u64(self.rng.random());
                    let gap = self.params.nemesis_interval(&mut rng);
                    self.schedule(gap, Event::Nemesis);
                }
            }
            Event::FinalHeal => {
                self.heal_everything();
                self.schedule(TICK, Event::Probe);
            }
            Event::Probe => {
                self.probe();
                self.schedule(TICK, Event::Probe);
            }
        }
    }

    pub(crate) fn crash(&mut self, id: NodeId) {
        let Some(n) = self.nodes.get_mut(&id) else { return };
        if !n.is_up() {
            return;
        }
        n.crash();
        self.writes.retain(|(node, _), _| *node != id);
        self.reads.retain(|(node, _), _| *node != id);
        self.stats.crashes += 1;
    }

    pub(crate) fn restart(&mut self, id: NodeId) {
        let cfg = self.node_config(id);
        let Some(n) = self.nodes.get_mut(&id) else { return };
        if n.is_up() {
            return;
        }
        let raft = Raft::new(cfg, n.durable()).expect("the simulation's config is valid");
        n.sm = StateMachine::decode(&n.disk.snapshot.data);
        let (index, digest) = (n.sm.applied, n.sm.digest);
        n.raft = Some(raft);
        let incarnation = n.incarnation;
        let period = n.tick_period;
        let check = self.checker.snapshot_restored(id, index, digest);
        self.fail(check);
        self.schedule(period, Event::Tick { node: id, incarnation });
        self.process_ready(id);
    }

    fn heal_everything(&mut self) {
        self.healed = true;
        self.blocked.clear();
        let down: Vec<NodeId> = self.nodes.iter().filter(|(_, n)| !n.is_up()).map(|(id, _)| *id).collect();
        for id in down {
            self.restart(id);
        }
    }

    pub(crate) fn send_all(&mut self, messages: Vec<Message>) {
        for m in messages {
            self.send(m);
        }
    }

    fn send(&mut self, m: Message) {
        if m.body == crate::types::MessageBody::TimeoutNow {
            self.maybe_cut_off_old_leader(m.from);
        }
        // A grant counts once it leaves the node; one that a crash kept from
        // leaving was never cast.
        if let crate::types::MessageBody::VoteResp { reject: false } = m.body {
            let check = self.checker.vote_granted(m.from, m.term, m.to);
            self.fail(check);
            // Crash points right after a vote: where a vote that was not
            // made durable would be forgotten.
            if !self.healed && self.rng.random_bool(self.params.crash_after_vote) {
                let delay = self.rng.random_range(1..TICK / 10);
                self.schedule(delay, Event::CrashRestart(m.from));
            }
        }
        if self.blocked.contains_key(&(m.from, m.to)) {
            self.stats.messages_dropped += 1;
            return;
        }
        if !self.healed && self.rng.random_bool(self.params.drop_rate) {
            self.stats.messages_dropped += 1;
            return;
        }
        let copies = if !self.healed && self.rng.random_bool(self.params.duplicate_rate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut delay = if !self.healed && self.rng.random_bool(self.params.long_delay_rate) {
                self.rng.random_range(2 * TICK..15 * TICK)
            } else {
                self.rng.random_range(TICK / 50..self.params.max_delay)
            };
            if !self.params.reorder {
                // An ordered link (one TCP stream): never overtake the last
                // message sent on it.
                let last = self.link_clear_at.entry((m.from, m.to)).or_insert(0);
                delay = delay.max(last.saturating_sub(self.now));
                *last = self.now + delay;
            }
            self.schedule(delay, Event::Deliver(m.clone()));
        }
    }

    /// Takes and carries out every Ready the node has.
    pub(crate) fn process_ready(&mut self, id: NodeId) {
        loop {
            let Some(n) = self.nodes.get_mut(&id) else { return };
            let Some(raft) = n.raft.as_mut() else { return };
            if !raft.has_ready() {
                return;
            }
            let rd = raft.ready();
            if let Some(ss) = rd.soft_state
                && ss.role == Role::Leader
            {
                self.stats.leaders_elected += 1;
                let check = self.checker.leader_elected(ss.term, id);
                self.fail(check);
                let raft = self.nodes[&id].raft.as_ref().expect("up");
                let check = self.checker.leader_log(id, ss.term, raft.snapshot_meta().index, |i| raft.term_at(i));
                self.fail(check);
            }
            for e in &rd.entries {
                let raft = self.nodes[&id].raft.as_ref().expect("up");
                let prev_term = raft.term_at(e.index - 1).unwrap_or(0);
                let check = self.checker.entry_written(id, e, prev_term);
                self.fail(check);
            }
            if let Some(hs) = rd.hard_state {
                let raft = self.nodes[&id].raft.as_ref().expect("up");
                let n = &self.nodes[&id];
                if raft.role() == Role::Leader && hs.commit > n.leader_commit_seen {
                    let check = self.checker.leader_committed(id, hs.term, hs.commit, raft.term_at(hs.commit));
                    self.fail(check);
                }
            }
            if let Some(lost) = self.nodes[&id].raft.as_ref().expect("up").lost_commits() {
                // The node's own alarm: a leader's log contradicted entries
                // it committed. It must never fire where the checks above hold.
                let why = format!("node {id} reports: {lost}");
                self.fail(Err((crate::sim::invariants::Invariant::LeaderCompleteness, why)));
            }
            {
                let n = self.nodes.get_mut(&id).expect("exists");
                let raft = n.raft.as_ref().expect("up");
                n.leader_commit_seen = if raft.role() == Role::Leader { raft.commit_index() } else { u64::MAX };
            }
            let must_persist = rd.must_persist() || !rd.persisted_messages.is_empty();
            self.send_all(rd.messages);

            let n = self.nodes.get_mut(&id).expect("exists");
            if let Some(s) = &rd.snapshot {
                n.sm = StateMachine::decode(&s.data);
                self.stats.snapshots_installed += 1;
                let (index, digest) = (n.sm.applied, n.sm.digest);
                let check = self.checker.snapshot_restored(id, index, digest);
                self.fail(check);
            }
            let n = self.nodes.get_mut(&id).expect("exists");
            if must_persist || !n.pending.is_empty() {
                n.pending.push_back(PendingWrite {
                    number: rd.number,
                    hard_state: rd.hard_state,
                    snapshot: rd.snapshot,
                    entries: rd.entries,
                    then_send: rd.persisted_messages,
                    sync: rd.must_sync,
                });
                self.start_disk_batch(id);
            } else {
                n.raft.as_mut().expect("up").on_persisted(rd.number);
            }

            for e in &rd.committed_entries {
                self.apply(id, e);
            }
            for rs in rd.read_states {
                if let Some(r) = self.reads.get_mut(&(id, rs.ctx)) {
                    r.index = Some((rs.index, rs.path));
                }
            }
            for ctx in rd.dropped_reads {
                self.reads.remove(&(id, ctx));
            }
            self.serve_reads(id);
            self.maybe_compact(id);
        }
    }

    /// Group commit: an idle disk takes every write queued so far as one
    /// batch, durable together after one latency.
    fn start_disk_batch(&mut self, id: NodeId) {
        let latency = self.rng.random_range(TICK / 20..self.params.max_disk_latency);
        let n = self.nodes.get_mut(&id).expect("exists");
        let Some(last) = n.pending.back().map(|w| w.number) else { return };
        if n.disk_busy {
            return;
        }
        n.disk_busy = true;
        let event = Event::DiskDone { node: id, incarnation: n.incarnation, number: last };
        self.schedule(latency, event);
    }

    fn apply(&mut self, id: NodeId, entry: &crate::types::Entry) {
        let n = self.nodes.get_mut(&id).expect("exists");
        if entry.index <= n.sm.applied {
            return;
        }
        n.sm.apply(entry);
        let digest = n.sm.digest;
        let nodes = &self.nodes;
        let durable_on = |v: NodeId| nodes.get(&v).is_some_and(|n| n.disk.holds(entry.index, entry.term));
        let check = self.checker.entry_applied(id, entry, digest, &durable_on);
        self.fail(check);
        if let Some(w) = self.writes.remove(&(id, entry.index))
            && entry.payload == Payload::Command(Bytes::copy_from_slice(&w.payload.to_le_bytes()))
        {
            self.stats.writes_acked += 1;
            self.checker.write_acked(self.event_number, entry.index);
        }
    }

    fn serve_reads(&mut self, id: NodeId) {
        let applied = self.nodes[&id].sm.applied;
        let ready: Vec<u64> = self
            .reads
            .iter()
            .filter(|((node, _), r)| *node == id && r.index.is_some_and(|(i, _)| i <= applied))
            .map(|((_, ctx), _)| *ctx)
            .collect();
        for ctx in ready {
            let r = self.reads.remove(&(id, ctx)).expect("listed above");
            let (_, path) = r.index.expect("filtered above");
            self.stats.reads_served[path as usize] += 1;
            let check = self.checker.read_served(id, r.invoked, applied, &format!("{path:?}"));
            self.fail(check);
        }
    }

    fn maybe_compact(&mut self, id: NodeId) {
        let every = self.params.compact_every;
        let n = self.nodes.get_mut(&id).expect("exists");
        let Some(raft) = n.raft.as_mut() else { return };
        let applied = n.sm.applied;
        if applied < raft.snapshot_meta().index + every || applied > raft.applied_index() {
            return;
        }
        raft.compact(applied, n.sm.encode()).expect("compacting at the applied index");
        n.disk.compact(raft.snapshot().clone());
    }

    /// One line per node, for failure reports.
    fn describe_nodes(&self) -> String {
        let mut out = String::from("nodes:");
        for (id, n) in &self.nodes {
            match &n.raft {
                None => out.push_str(&format!("\n  {id}: down")),
                Some(r) => {
                    let st = r.status();
                    out.push_str(&format!(
                        "\n  {id}: {:?} term={} leader={} commit={} applied={} last={} snap={} voters={:?} learners={:?}",
                        st.role, st.term, st.leader, st.commit, n.sm.applied, st.last_index, st.snapshot_index,
                        st.conf.voters, st.conf.learners
                    ));
                    for (peer, p) in &st.peers {
                        out.push_str(&format!(
                            "\n      peer {peer}: match={} next={} {:?} inflight={}",
                            p.matched, p.next, p.state, p.inflight
                        ));
                    }
                }
            }
        }
        out
    }

    /// The ids of nodes that are up and believe they lead, highest term first.
    pub(crate) fn leaders(&self) -> Vec<NodeId> {
        let mut leaders: Vec<(u64, NodeId)> = self
            .nodes
            .iter()
            .filter_map(|(id, n)| n.raft.as_ref().filter(|r| r.role() == Role::Leader).map(|r| (r.term(), *id)))
            .collect();
        leaders.sort_by(|a, b| b.cmp(a));
        leaders.into_iter().map(|(_, id)| id).collect()
    }

    fn client_op(&mut self) {
        let leaders = self.leaders();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let pick_leader = |rng: &mut ChaCha8Rng| {
            if leaders.is_empty() {
                ids[rng.random_range(0..ids.len())]
            } else {
                leaders[rng.random_range(0..leaders.len())]
            }
        };
        let roll: f64 = self.rng.random_range(0.0..1.0);
        let invoked = self.event_number;
        if roll < 0.55 {
            let id = pick_leader(&mut self.rng);
            let payload = self.next_payload;
            self.next_payload += 1;
            let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else { return };
            if let Ok(index) = raft.propose(Bytes::copy_from_slice(&payload.to_le_bytes())) {
                self.writes.insert((id, index), PendingClientWrite { payload });
            }
            self.process_ready(id);
            return;
        }
        let (id, mode) = if roll < 0.75 {
            (pick_leader(&mut self.rng), ReadMode::Lease)
        } else if roll < 0.87 {
            (pick_leader(&mut self.rng), ReadMode::ReadIndex)
        } else {
            (ids[self.rng.random_range(0..ids.len())], ReadMode::ReadIndex)
        };
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else { return };
        if raft.read(ctx, mode).is_ok() {
            self.reads.insert((id, ctx), PendingClientRead { invoked, index: None });
        }
        self.process_ready(id);
    }

    /// After the heal: keep a write in flight at the newest leader until a
    /// majority of that leader's voters has applied one.
    fn probe(&mut self) {
        let Some(&leader) = self.leaders().first() else { return };
        let raft = self.nodes[&leader].raft.as_ref().expect("leaders are up");
        let voters = raft.conf().voters.clone();
        let term = raft.term();
        let committed = self.checker.committed();
        let probe_index = (1..=committed)
            .rev()
            .take(64)
            .find(|&i| self.checker.committed_payload(i).is_some_and(|p| p == probe_digest(self.probe_payload)));
        if let Some(index) = probe_index.filter(|_| self.probe_payload != 0) {
            let applied =
                voters.iter().filter(|v| self.nodes[*v].is_up() && self.nodes[*v].sm.applied >= index).count();
            if crate::quorum::is_majority(&voters, applied) {
                self.stats.recovered_at = Some(self.now);
                return;
            }
        }
        if term > self.probe_term {
            self.probe_term = term;
            self.probe_payload = PROBE_BASE + term;
            let raft = self.nodes.get_mut(&leader).and_then(|n| n.raft.as_mut()).expect("leaders are up");
            if raft.propose(Bytes::copy_from_slice(&self.probe_payload.to_le_bytes())).is_err() {
                self.probe_term = 0;
            }
            self.process_ready(leader);
        }
    }
}

fn probe_digest(payload: u64) -> u64 {
    crate::sim::invariants::payload_digest(&Payload::Command(Bytes::copy_from_slice(&payload.to_le_bytes())))
}

/// Node ids that are up, for the nemesis to choose from.
pub(crate) fn up_ids(nodes: &BTreeMap<NodeId, SimNode>) -> BTreeSet<NodeId> {
    nodes.iter().filter(|(_, n)| n.is_up()).map(|(id, _)| *id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_whose_events_run_out_before_the_post_heal_write_fails_liveness() {
        let mut world = World::new(&Options::new(3, 0));
        world.queue.clear();
        let outcome = world.run();
        let violation = outcome.violation.expect("a run with nothing left to happen cannot pass");
        assert_eq!(violation.invariant, Invariant::Liveness);
        assert!(violation.detail.contains("ran dry"), "{}", violation.detail);
        assert_eq!(outcome.stats.recovered_at, None);
    }

    #[test]
    fn a_passing_run_records_when_the_post_heal_write_was_applied() {
        let options = Options::new(3, 0);
        let outcome = World::new(&options).run();
        assert!(outcome.violation.is_none(), "{:?}", outcome.violation);
        let at = outcome.stats.recovered_at.expect("passed without the post-heal write");
        assert!(at > options.fault_ticks * TICK, "recovered at {at}, before the heal");
    }
}
