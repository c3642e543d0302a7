//! Throughput of the core alone: a 3-node cluster in one thread, messages
//! delivered at once, every write durable at once. No disk, no network:
//! this measures the consensus code itself.

use std::collections::VecDeque;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use raft::{Config, Durable, Entry, Message, MessageBody, Payload, Raft, Role};

struct Cluster {
    nodes: Vec<Raft>,
    queue: VecDeque<Message>,
    committed: u64,
}

impl Cluster {
    fn new() -> Cluster {
        let nodes = (1..=3).map(|id| Raft::new(Config::new(id), Durable::bootstrap([1, 2, 3])).unwrap()).collect();
        let mut c = Cluster { nodes, queue: VecDeque::new(), committed: 0 };
        c.nodes[0].campaign_now();
        c.run();
        assert_eq!(c.nodes[0].role(), Role::Leader);
        c
    }

    /// Hands out readies and delivers messages until nothing moves.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while self.nodes[i].has_ready() {
                    moved = true;
                    let rd = self.nodes[i].ready();
                    if i == 0 {
                        self.committed +=
                            rd.committed_entries.iter().filter(|e| matches!(e.payload, Payload::Command(_))).count()
                                as u64;
                    }
                    self.queue.extend(rd.messages);
                    self.queue.extend(rd.persisted_messages);
                    self.nodes[i].on_persisted(rd.number);
                }
            }
            while let Some(m) = self.queue.pop_front() {
                moved = true;
                let to = m.to as usize - 1;
                self.nodes[to].step(m);
            }
            if !moved {
                return;
            }
        }
    }

    /// Commits `total` proposals keeping `window` in flight.
    fn commit(&mut self, total: u64, window: u64, payload: &Bytes) {
        let target = self.committed + total;
        let mut proposed = self.committed;
        while self.committed < target {
            while proposed < target && proposed - self.committed < window {
                self.nodes[0].propose(payload.clone()).expect("the leader accepts");
                proposed += 1;
            }
            self.run();
        }
    }
}

fn committed_entries(c: &mut Criterion) {
    let payload = Bytes::from(vec![7u8; 64]);
    let mut group = c.benchmark_group("committed_entries");
    for window in [1u64, 256] {
        let total = 4096;
        group.throughput(Throughput::Elements(total));
        group.bench_function(format!("{window}_proposers"), |b| {
            b.iter_batched(Cluster::new, |mut cluster| cluster.commit(total, window, &payload), BatchSize::LargeInput)
        });
    }
    group.finish();
}

fn one_step(c: &mut Criterion) {
    // A follower stepping one Append carrying one 64-byte entry.
    let mut follower = Raft::new(Config::new(2), Durable::bootstrap([1, 2, 3])).unwrap();
    follower.step(Message { from: 1, to: 2, term: 2, body: MessageBody::Heartbeat { commit: 1, round: 1 } });
    let mut index = 1;
    c.bench_function("step/follower_append_1_entry", |b| {
        b.iter_batched(
            || {
                index += 1;
                let entry = Entry { index, term: 2, payload: Payload::Command(Bytes::from_static(&[7; 64])) };
                let body = MessageBody::Append {
                    prev_index: index - 1,
                    prev_term: if index == 2 { 1 } else { 2 },
                    entries: vec![entry],
                    commit: 1,
                };
                Message { from: 1, to: 2, term: 2, body }
            },
            |m| follower.step(black_box(m)),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, committed_entries, one_step);
criterion_main!(benches);
