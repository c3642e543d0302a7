//! A deterministic cluster for scripts: messages wait in a queue until
//! delivered, disks persist at once, nothing is random but the core's seed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write;

use raft::{Config, Durable, Entry, Message, NodeId, Raft, Ready};

pub struct Node {
    pub raft: Option<Raft>,
    pub disk: Durable,
    pub applied: Vec<String>,
}

#[derive(Default)]
pub struct Cluster {
    pub nodes: BTreeMap<NodeId, Node>,
    pub queue: VecDeque<Message>,
    /// Directed links that drop messages.
    pub cut: BTreeSet<(NodeId, NodeId)>,
    pub bugs: BTreeSet<raft::UnsafeBug>,
    /// For nodes created from now on: entries per Append message.
    pub max_msg_entries: Option<usize>,
    /// Print every disk write a Ready asks for, and whether it must sync.
    pub show_writes: bool,
}

pub fn config(id: NodeId, bugs: &BTreeSet<raft::UnsafeBug>, max_msg_entries: Option<usize>) -> Config {
    let mut cfg = Config::new(id);
    if let Some(n) = max_msg_entries {
        cfg.max_msg_entries = n;
    }
    cfg.snapshot_chunk_bytes = 8;
    cfg.promote_max_lag = 0;
    cfg.max_uncommitted_entries = 6;
    cfg.unsafe_bugs = bugs.clone();
    cfg
}

impl Cluster {
    pub fn add(&mut self, id: NodeId, disk: Durable) {
        let raft = Raft::new(config(id, &self.bugs, self.max_msg_entries), disk.clone()).expect("valid config");
        self.nodes.insert(id, Node { raft: Some(raft), disk, applied: Vec::new() });
    }

    pub fn raft(&mut self, id: NodeId) -> &mut Raft {
        self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()).unwrap_or_else(|| panic!("node {id} is not up"))
    }

    /// Handles every Ready of node `id`, writing what matters to `out`.
    pub fn process(&mut self, id: NodeId, out: &mut String) {
        loop {
            let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else { return };
            if !raft.has_ready() {
                return;
            }
            let rd = raft.ready();
            describe(id, &rd, out);
            if self.show_writes && rd.must_persist() {
                describe_write(id, &rd, out);
            }
            let node = self.nodes.get_mut(&id).unwrap();
            persist(&mut node.disk, &rd);
            for e in &rd.committed_entries {
                node.applied.push(format!("{e}"));
            }
            node.raft.as_mut().unwrap().on_persisted(rd.number);
            self.queue.extend(rd.messages);
            self.queue.extend(rd.persisted_messages);
        }
    }

    pub fn process_all(&mut self, out: &mut String) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.process(id, out);
        }
    }

    /// Delivers every queued message (and those they cause) until quiet.
    pub fn stabilize(&mut self, out: &mut String) {
        self.process_all(out);
        while !self.queue.is_empty() {
            self.deliver_round(out);
        }
    }

    /// Delivers the messages queued now; those they cause wait for the next round.
    pub fn deliver_round(&mut self, out: &mut String) {
        for m in std::mem::take(&mut self.queue) {
            let (from, to) = (m.from, m.to);
            if self.cut.contains(&(from, to)) {
                writeln!(out, "dropped {m}").unwrap();
                continue;
            }
            match self.nodes.get_mut(&to).and_then(|n| n.raft.as_mut()) {
                Some(raft) => {
                    writeln!(out, "{m}").unwrap();
                    raft.step(m);
                    self.process(to, out);
                }
                None => writeln!(out, "dropped {m} (node down)").unwrap(),
            }
        }
    }
}

fn persist(disk: &mut Durable, rd: &Ready) {
    if let Some(s) = &rd.snapshot {
        disk.snapshot = s.clone();
        disk.entries.clear();
    }
    if let Some(first) = rd.entries.first() {
        disk.entries.retain(|e| e.index < first.index);
        disk.entries.extend(rd.entries.iter().cloned());
    }
    if let Some(hs) = rd.hard_state {
        disk.hard_state = hs;
    }
}

fn describe_write(id: NodeId, rd: &Ready, out: &mut String) {
    let hard_state =
        rd.hard_state.map_or("-".into(), |hs| format!("term={} vote={} commit={}", hs.term, hs.vote, hs.commit));
    let snapshot =
        rd.snapshot.as_ref().map_or(String::new(), |s| format!(" snapshot={}/{}", s.meta.term, s.meta.index));
    let sync = if rd.must_sync { "sync" } else { "no sync" };
    writeln!(out, "n{id}: write{snapshot} entries=[{}] hard_state {hard_state}: {sync}", entries(&rd.entries)).unwrap();
}

fn entries(list: &[Entry]) -> String {
    list.iter().map(|e| format!("{e}")).collect::<Vec<_>>().join(", ")
}

fn describe(id: NodeId, rd: &Ready, out: &mut String) {
    if let Some(ss) = rd.soft_state {
        writeln!(out, "n{id}: {:?} term={} leader={}", ss.role, ss.term, ss.leader).unwrap();
    }
    if let Some(s) = &rd.snapshot {
        writeln!(out, "n{id}: install snapshot {}/{} voters={:?}", s.meta.term, s.meta.index, s.meta.conf.voters)
            .unwrap();
    }
    if !rd.committed_entries.is_empty() {
        writeln!(out, "n{id}: apply [{}]", entries(&rd.committed_entries)).unwrap();
    }
    for rs in &rd.read_states {
        writeln!(out, "n{id}: read ctx={} index={} via {:?}", rs.ctx, rs.index, rs.path).unwrap();
    }
    for ctx in &rd.dropped_reads {
        writeln!(out, "n{id}: read ctx={ctx} dropped").unwrap();
    }
    if let Some(conf) = &rd.conf_state {
        writeln!(out, "n{id}: membership voters={:?} learners={:?}", conf.voters, conf.learners).unwrap();
    }
    for e in &rd.events {
        writeln!(out, "n{id}: event {e:?}").unwrap();
    }
}
