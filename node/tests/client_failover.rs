//! The client must not wait on a frozen leader: its attempt timeout follows
//! the cluster's election timeout, a request left unanswered has the
//! members watched for a newer leader, and a transfer moves the writes to
//! the new leader at once. Bounds are counted in election timeouts and
//! generous (2 loaded cores); what they tell apart is seconds.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Cluster, eventually, leader_of};
use node::client::{Client, ClientError};
use node::proto::kv::Consistency;
use tokio::task::JoinSet;

fn signal(cluster: &Cluster, id: u64, signal: &str) {
    let pid = cluster.nodes[&id].id().to_string();
    let status = std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// The cluster's election timeout, as a member's status tells it.
async fn election_timeout(cluster: &Cluster, client: &Client, id: u64) -> Duration {
    let status = client.status(&cluster.address(id)).await.expect("status");
    assert!(status.election_timeout_ms > 0, "status tells the election timeout");
    Duration::from_millis(status.election_timeout_ms)
}

/// One write a [`Writers`] task made.
struct Written {
    key: String,
    result: Result<(), String>,
    ambiguous: bool,
    done: Instant,
}

/// Tasks that write fresh keys through one shared client until stopped,
/// as loadgen does: many requests in flight on one leader-tracking client.
struct Writers {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Vec<Written>>,
}

impl Writers {
    fn start(client: &Arc<Client>, count: usize, prefix: &str) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        for task in 0..count {
            let (client, stop, prefix) = (client.clone(), stop.clone(), prefix.to_string());
            tasks.spawn(async move {
                let mut written = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("{prefix}-{task}-{n}");
                    let result = client.put(&key, Bytes::from("v")).await;
                    let ambiguous = matches!(result, Err(ClientError::Ambiguous(_)));
                    let result = result.map(drop).map_err(|e| e.to_string());
                    written.push(Written { key, result, ambiguous, done: Instant::now() });
                }
                written
            });
        }
        Writers { stop, tasks }
    }

    async fn stop(mut self) -> Vec<Vec<Written>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        while let Some(done) = self.tasks.join_next().await {
            all.push(done.expect("a writer panicked"));
        }
        all
    }
}

/// Every acknowledged write reads back, and none that the client called
/// certainly failed: a failure it was not sure of must be ambiguous.
async fn check_outcomes(reader: &Client, writes: &[Vec<Written>]) {
    for w in writes.iter().flatten() {
        let read = reader.get(&w.key, Consistency::ReadIndex).await.expect("read back").value;
        match &w.result {
            Ok(()) => assert!(read.is_some(), "acknowledged write {} is missing", w.key),
            Err(_) if w.ambiguous => {}
            Err(why) => assert!(read.is_none(), "write {} failed ({why}) yet it applied", w.key),
        }
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_on_a_frozen_leader_move_once_the_others_elect() {
    let mut cluster = Cluster::new(160, 18100);
    cluster.bootstrap(&[1, 2, 3]);
    let admin = cluster.client(&[1, 2, 3]);
    let leader = eventually("a leader", &cluster, || leader_of(&cluster, &admin, &[1, 2, 3])).await;
    let election = election_timeout(&cluster, &admin, leader).await;
    let client = Arc::new(cluster.client(&[1, 2, 3]));
    // No attempt gives up on its own before 10 s: whatever moves the writes
    // sooner is the client watching the members for a newer leader.
    client.set_attempt_timeout(Duration::from_secs(10));
    client.put("warm", Bytes::from("up")).await.expect("a write before the freeze");
    let writers = Writers::start(&client, 8, "frozen");
    tokio::time::sleep(3 * election).await;

    signal(&cluster, leader, "-STOP");
    let frozen_at = Instant::now();
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let new_leader = eventually("a new leader", &cluster, || leader_of(&cluster, &admin, &others)).await;
    // Long enough for every writer to get past the freeze, if it does in time.
    let bound = 10 * election;
    tokio::time::sleep_until((frozen_at + bound).into()).await;
    let writes: Vec<Vec<Written>> = writers.stop().await;
    signal(&cluster, leader, "-CONT");
    for (task, written) in writes.iter().enumerate() {
        let first_ok = written.iter().find(|w| w.done > frozen_at && w.result.is_ok()).map(|w| w.done - frozen_at);
        let first_ok = first_ok.unwrap_or_else(|| panic!("writer {task} had nothing acknowledged after the freeze"));
        assert!(
            first_ok <= bound,
            "writer {task}: first write acknowledged {first_ok:?} after the freeze; wanted at most 10 election \
             timeouts ({bound:?}), the new leader {new_leader} notwithstanding"
        );
    }
    let reader = cluster.client(&others);
    check_outcomes(&reader, &writes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_transfer_the_writes_go_to_the_new_leader() {
    let mut cluster = Cluster::new(165, 18101);
    cluster.bootstrap(&[1, 2, 3]);
    let admin = cluster.client(&[1, 2, 3]);
    let leader = eventually("a leader", &cluster, || leader_of(&cluster, &admin, &[1, 2, 3])).await;
    let election = election_timeout(&cluster, &admin, leader).await;
    let client = Arc::new(cluster.client(&[1, 2, 3]));
    client.put("warm", Bytes::from("up")).await.expect("a write before the transfer");
    assert_eq!(client.leader(), Some(cluster.address(leader)));
    let writers = Writers::start(&client, 4, "moved");
    tokio::time::sleep(3 * election).await;

    let to = (1..=3).find(|&id| id != leader).unwrap();
    let asked = Instant::now();
    admin.transfer_leader(to).await.expect("the transfer starts");
    // Writes sent after the transfer was asked for, until one is answered by
    // the new leader.
    let bound = 5 * election;
    let moved_after = loop {
        assert!(asked.elapsed() < 2 * bound, "no write reached node {to} in {:?}\n{}", 2 * bound, cluster.logs());
        if client.put("after", Bytes::from("t")).await.is_ok() && client.leader() == Some(cluster.address(to)) {
            break asked.elapsed();
        }
    };
    let writes = writers.stop().await;
    assert_eq!(leader_of(&cluster, &admin, &[to]).await, Some(to), "node {to} leads");
    assert!(
        moved_after <= bound,
        "the first write on the new leader came {moved_after:?} after the transfer; wanted at most 5 election \
         timeouts ({bound:?})"
    );
    check_outcomes(&admin, &writes).await;
}
