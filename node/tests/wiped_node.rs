//! A voter whose data directory is lost and that is started again with its
//! original `--peers` must not bootstrap into the cluster it was part of:
//! it would vote and acknowledge with a log it forgot. The user's sequence
//! from the bug report: node 3 down, writes acknowledged by nodes 1 and 2,
//! node 2 killed and wiped, node 1 killed, nodes 2 and 3 started.

mod common;

use bytes::Bytes;
use common::{Cluster, eventually, leader_of};
use node::proto::kv::Consistency;

const KEYS: usize = 30;

async fn started_everywhere(cluster: &Cluster, ids: &[u64]) {
    let client = cluster.client(ids);
    eventually("every node to record every member as started", cluster, || async {
        for &id in ids {
            let s = client.status(&cluster.address(id)).await.ok()?;
            (s.started_members == ids).then_some(())?;
        }
        Some(())
    })
    .await;
}

/// Three nodes, node 3 stopped, `KEYS` puts acknowledged by nodes 1 and 2.
async fn writes_without_node_3(cluster: &mut Cluster) {
    cluster.bootstrap(&[1, 2, 3]);
    started_everywhere(cluster, &[1, 2, 3]).await;
    cluster.kill(3);
    let client = cluster.client(&[1, 2]);
    for i in 0..KEYS {
        client.put(&format!("k{i}"), Bytes::from(format!("v{i}"))).await.expect("acknowledged");
    }
}

async fn assert_every_key_reads(cluster: &Cluster, ids: &[u64]) {
    let client = cluster.client(ids);
    for i in 0..KEYS {
        let got = client.get(&format!("k{i}"), Consistency::ReadIndex).await.expect("read");
        assert_eq!(got.value, Some(Bytes::from(format!("v{i}"))), "k{i}\n{}", cluster.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_voter_refuses_to_bootstrap_and_rejoins_under_a_new_id() {
    let mut cluster = Cluster::new(20, 17121);
    writes_without_node_3(&mut cluster).await;
    cluster.kill(2);
    std::fs::remove_dir_all(cluster.data_dir(2)).unwrap();
    cluster.kill(1);

    let peers = cluster.peers(&[1, 2, 3]);
    cluster.start(3, &["--peers".into(), peers.clone()]);
    // Generous: node 3 must be up and answer within the wait on a loaded machine.
    let patient = ["--peers".into(), peers.clone(), "--bootstrap-wait-ms".into(), "15000".into()];
    cluster.start(2, &patient);
    let exit = cluster.wait_for_exit(2);
    assert!(!exit.success(), "node 2 bootstrapped on its emptied directory\n{}", cluster.logs());
    let log = cluster.log(2);
    assert!(log.contains("records it as a member that already took part"), "{log}");
    assert!(log.contains("remove 2") && log.contains("--join"), "the refusal says how to rejoin: {log}");

    // Started again, it still refuses: the refusal survives in the directory.
    cluster.start(2, &patient);
    assert!(!cluster.wait_for_exit(2).success(), "a second start bootstrapped\n{}", cluster.logs());

    // Node 1 returns: nothing acknowledged was lost.
    cluster.start(1, &["--peers".into(), peers.clone()]);
    assert_every_key_reads(&cluster, &[1, 3]).await;

    // The right way back: remove the old id, join under a new one.
    let client = cluster.client(&[1, 3]);
    eventually("a leader", &cluster, || leader_of(&cluster, &client, &[1, 3])).await;
    client.remove(2).await.expect("remove the wiped member");
    let through = cluster.address(1);
    cluster.start(4, &["--join".into(), through]);
    let target = client.status(&cluster.address(1)).await.unwrap().commit;
    eventually("node 4 to catch up", &cluster, || async {
        let s = client.status(&cluster.address(4)).await.ok()?;
        (s.applied >= target).then_some(())
    })
    .await;
    client.promote(4).await.expect("promote 4");
    cluster.kill(3);
    assert_every_key_reads(&cluster, &[1, 4]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_started_late_still_bootstraps() {
    let mut cluster = Cluster::new(30, 17131);
    let peers = cluster.peers(&[1, 2, 3]);
    for id in 1..=2 {
        cluster.start(id, &["--peers".into(), peers.clone()]);
    }
    started_everywhere(&cluster, &[1, 2]).await;
    let client = cluster.client(&[1, 2]);
    for i in 0..KEYS {
        client.put(&format!("k{i}"), Bytes::from(format!("v{i}"))).await.expect("acknowledged");
    }
    // Node 3 never took part, so its empty directory is a first start.
    cluster.start(3, &["--peers".into(), peers]);
    started_everywhere(&cluster, &[1, 2, 3]).await;
    cluster.kill(1);
    assert_every_key_reads(&cluster, &[2, 3]).await;
}

/// When no peer that knew the wiped node can answer, it bootstraps (it
/// cannot tell), and the damage is the one the guard exists for; the
/// survivor holding the lost writes must then say so instead of following.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survivor_reports_lost_commits_instead_of_following() {
    let mut cluster = Cluster::new(40, 17141);
    writes_without_node_3(&mut cluster).await;
    cluster.kill(2);
    std::fs::remove_dir_all(cluster.data_dir(2)).unwrap();
    cluster.kill(1);

    let peers = cluster.peers(&[1, 2, 3]);
    cluster.start(2, &["--peers".into(), peers.clone(), "--bootstrap-wait-ms".into(), "300".into()]);
    let client = cluster.client(&[1, 2, 3]);
    eventually("node 2 to give up waiting for its peers", &cluster, || async {
        cluster.log(2).contains("bootstrapping without an answer").then_some(())
    })
    .await;
    cluster.start(3, &["--peers".into(), peers.clone()]);
    eventually("node 3 to lead", &cluster, || async {
        (leader_of(&cluster, &client, &[3]).await == Some(3)).then_some(())
    })
    .await;
    cluster.start(1, &["--peers".into(), peers]);
    // Whichever learns it first says so: node 1, when leader 3's log
    // contradicts what it committed, or leader 3, when node 1 acknowledges
    // past the end of its log.
    let (who, alarm) = eventually("the alarm", &cluster, || async {
        for id in [1, 3] {
            let s = client.status(&cluster.address(id)).await.ok()?;
            if !s.alarm.is_empty() {
                return Some((id, s.alarm));
            }
        }
        None
    })
    .await;
    assert!(alarm.contains("the cluster lost committed entries"), "{alarm}");
    eventually("the alarm in the log", &cluster, || async { cluster.log(who).contains("DATA LOSS").then_some(()) })
        .await;
    // Node 1 kept what it committed.
    let survivor = cluster.client(&[1]);
    for i in 0..KEYS {
        let got = survivor.get(&format!("k{i}"), Consistency::Stale).await.expect("read");
        assert_eq!(got.value, Some(Bytes::from(format!("v{i}"))), "k{i} on the survivor");
    }
}
