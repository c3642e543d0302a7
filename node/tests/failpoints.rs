//! The failpoints through real nodes: a failed fsync or a full disk fences
//! the node off (it acknowledges and serves nothing more, and says why)
//! while the others go on; a crash at a named site loses nothing.

mod common;

use bytes::Bytes;
use common::{Cluster, eventually, leader_of};
use node::client::Client;
use node::proto::kv::Consistency;

async fn digests_agree(cluster: &Cluster, client: &Client, ids: &[u64]) {
    eventually("equal digests", cluster, || async {
        let mut seen = Vec::new();
        for &id in ids {
            seen.push(client.digest(&cluster.address(id)).await.ok()?);
        }
        seen.windows(2).all(|w| w[0].applied == w[1].applied && w[0].digest == w[1].digest).then_some(())
    })
    .await;
}

async fn serving(cluster: &Cluster, client: &Client, id: u64) {
    eventually("the node to serve", cluster, || async { client.status(&cluster.address(id)).await.ok().map(|_| ()) })
        .await;
}

async fn puts(client: &Client, range: std::ops::Range<usize>) {
    for i in range {
        client.put(&format!("k{i}"), Bytes::from(format!("v{i}"))).await.expect("acknowledged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_errors_fence_a_node_off_and_crash_sites_lose_nothing() {
    let mut cluster = Cluster::new(60, 17161);
    cluster.bootstrap(&[1, 2, 3]);
    let client = cluster.client(&[1, 2, 3]);
    let leader = eventually("a leader", &cluster, || leader_of(&cluster, &client, &[1, 2, 3])).await;
    puts(&client, 0..10).await;

    // The leader's next fsync fails: it must not acknowledge the write, and
    // the others elect a leader and take it.
    let err = client.set_failpoint(&cluster.address(leader), "no-such-site", "return").await.unwrap_err();
    assert!(err.to_string().contains("the sites are"), "{err}");
    client.set_failpoint(&cluster.address(leader), "wal-sync", "return(eio)").await.unwrap();
    let status = client.status(&cluster.address(leader)).await.unwrap();
    assert_eq!(status.failpoints, vec!["wal-sync=return(eio)"]);
    puts(&client, 10..20).await;
    let fenced = client.status(&cluster.address(leader)).await.unwrap();
    assert!(fenced.alarm.contains("disk failed"), "{fenced:?}");
    assert!(cluster.log(leader).contains("this node no longer takes part"), "{}", cluster.log(leader));
    let direct = Client::new(vec![cluster.address(leader)], None);
    let refused = direct.get("k1", Consistency::Stale).await.unwrap_err();
    assert!(refused.to_string().contains("disk failed"), "a fenced node serves no read: {refused}");
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let survivors = cluster.client(&others);
    eventually("a new leader", &cluster, || leader_of(&cluster, &survivors, &others)).await;

    // A full disk on one of the two left: the last one cannot commit alone,
    // so bring the fenced node back first (a restart clears its failpoints).
    cluster.kill(leader);
    cluster.start(leader, &[]);
    digests_agree(&cluster, &client, &[1, 2, 3]).await;
    let current = eventually("a leader", &cluster, || leader_of(&cluster, &client, &[1, 2, 3])).await;
    let follower = (1..=3).find(|&id| id != current).unwrap();
    client.set_failpoint(&cluster.address(follower), "wal-write", "return(enospc)").await.unwrap();
    puts(&client, 20..30).await;
    eventually("the full disk to fence its node", &cluster, || async {
        let s = client.status(&cluster.address(follower)).await.ok()?;
        s.alarm.contains("the disk is full").then_some(())
    })
    .await;
    cluster.kill(follower);
    cluster.start(follower, &[]);
    serving(&cluster, &client, follower).await;

    // Crash sites: the process aborts where named; after a restart nothing
    // acknowledged is missing and the replicas agree.
    for site in ["crash-after-wal-sync", "crash-before-apply"] {
        let victim = follower;
        client.set_failpoint(&cluster.address(victim), site, "return").await.unwrap();
        puts(&client, 30..40).await;
        assert!(!cluster.wait_for_exit(victim).success(), "{site} did not crash node {victim}");
        assert!(cluster.log(victim).contains(site), "{}", cluster.log(victim));
        cluster.start(victim, &[]);
        serving(&cluster, &client, victim).await;
    }
    digests_agree(&cluster, &client, &[1, 2, 3]).await;
    for i in 0..40 {
        let got = client.get(&format!("k{i}"), Consistency::ReadIndex).await.unwrap();
        assert_eq!(got.value, Some(Bytes::from(format!("v{i}"))), "k{i}");
    }
}
