//! The client must not wait on a frozen leader: its attempt timeout follows
//! the cluster's election timeout, and after one it moves to the others.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Cluster, eventually, leader_of};
use node::proto::kv::Consistency;

fn signal(cluster: &Cluster, id: u64, signal: &str) {
    let pid = cluster.nodes[&id].id().to_string();
    let status = std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_on_while_the_leader_is_frozen() {
    let mut cluster = Cluster::new(50, 17151);
    cluster.bootstrap(&[1, 2, 3]);
    let client = cluster.client(&[1, 2, 3]);
    let leader = eventually("a leader", &cluster, || leader_of(&cluster, &client, &[1, 2, 3])).await;
    // A client that never asked for a status learns the election timeout
    // (20 ms ticks x 10) before its first request.
    let writer = cluster.client(&[1, 2, 3]);
    assert_eq!(writer.attempt_timeout(), Duration::from_secs(2), "the default before it knows");
    writer.put("before", Bytes::from("1")).await.expect("a write before the freeze");
    assert_eq!(writer.attempt_timeout(), Duration::from_millis(400));

    signal(&cluster, leader, "-STOP");
    let during = cluster.client(&[1, 2, 3]);
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let new_leader = eventually("a new leader", &cluster, || leader_of(&cluster, &during, &others)).await;
    during.put("during", Bytes::from("2")).await.expect("a write while the old leader is frozen");
    let read = during.get("during", Consistency::ReadIndex).await.expect("read");
    assert_eq!(read.value.as_deref(), Some(&b"2"[..]));
    // The first client still has the frozen node cached as leader. Its
    // whole operation may take less than a fixed 2 s attempt would (the
    // timeout before the cluster's was known), so it must have given up on
    // the frozen node after 400 ms and found the new leader.
    let mut first = writer;
    first.deadline = Duration::from_millis(1900);
    first.put("after", Bytes::from("3")).await.expect("the first client follows the new leader");
    signal(&cluster, leader, "-CONT");
    assert_ne!(new_leader, leader);
}
