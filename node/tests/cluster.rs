//! Real `raft-node` processes on 127.0.0.11-14: kill -9 the leader under
//! load, recover, change the membership, and never lose an acknowledged write;
//! on 127.0.0.16-18 (port 17111): leader transfers and lease reads.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{Cluster, eventually, leader_of};
use node::client::{Client, ClientError};
use node::proto::kv::Consistency;

fn value(i: usize) -> Bytes {
    Bytes::from(format!("v{i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_kill_9_of_the_leader_and_membership_changes() {
    let mut cluster = Cluster::new(10, 17101);
    cluster.bootstrap(&[1, 2, 3]);
    let endpoints: Vec<String> = (1..=3).map(|id| cluster.address(id)).collect();
    let client = Arc::new(Client::new(endpoints.clone(), None));
    let first_leader = eventually("a leader", &cluster, || leader_of(&cluster, &client, &[1, 2, 3])).await;

    // 1,000 writes from 8 concurrent writers; kill -9 the leader a third of the way in.
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for w in 0..8 {
        let client = client.clone();
        let acked = acked_tx.clone();
        writers.push(tokio::spawn(async move {
            for i in (w..1000).step_by(8) {
                match client.put(&format!("k{i}"), value(i)).await {
                    Ok(_) => acked.send(i).unwrap(),
                    Err(ClientError::Ambiguous(_)) => {}
                    Err(e) => panic!("write k{i} failed for good: {e}"),
                }
            }
        }));
    }
    drop(acked_tx);
    let mut acked = Vec::new();
    while acked.len() < 330 {
        acked.push(acked_rx.recv().await.expect("writers are running"));
    }
    cluster.kill(first_leader);
    for w in writers {
        w.await.unwrap();
    }
    while let Some(i) = acked_rx.recv().await {
        acked.push(i);
    }
    assert!(acked.len() >= 990, "only {} of 1000 writes acknowledged", acked.len());
    let alive: Vec<u64> = (1..=3).filter(|&id| id != first_leader).collect();
    let new_leader = eventually("a new leader", &cluster, || leader_of(&cluster, &client, &alive)).await;
    assert_ne!(new_leader, first_leader);

    // Every acknowledged write reads back, whatever the consistency.
    let follower = *alive.iter().find(|&&id| id != new_leader).unwrap();
    let follower_client = Client::new(vec![cluster.address(follower)], None);
    for &i in &acked {
        let key = format!("k{i}");
        for c in [Consistency::Lease, Consistency::ReadIndex] {
            let got = client.get(&key, c).await.unwrap();
            assert_eq!(got.value, Some(value(i)), "{key} read with {c:?}");
        }
        let got = follower_client.get(&key, Consistency::Follower).await.unwrap();
        assert_eq!(got.value, Some(value(i)), "{key} read from follower {follower}");
    }

    // The killed node comes back and catches up: three equal digests.
    cluster.start(first_leader, &[]);
    let digests = eventually("equal digests", &cluster, || async {
        let mut seen = Vec::new();
        for id in 1..=3 {
            seen.push(client.digest(&cluster.address(id)).await.ok()?);
        }
        let same = seen.windows(2).all(|w| w[0].applied == w[1].applied && w[0].digest == w[1].digest);
        same.then_some(seen)
    })
    .await;
    assert!(digests[0].applied >= 1000);
    let restarted = Client::new(vec![cluster.address(first_leader)], None);
    for &i in &acked {
        let got = restarted.get(&format!("k{i}"), Consistency::Stale).await.unwrap();
        assert_eq!(got.value, Some(value(i)), "k{i} on the restarted node");
    }

    // Node 4 joins as a learner, catches up, and is promoted.
    let through = cluster.address(new_leader);
    cluster.start(4, &["--join".into(), through]);
    eventually("node 4 to catch up", &cluster, || async {
        let s = client.status(&cluster.address(4)).await.ok()?;
        (s.applied >= digests[0].applied).then_some(())
    })
    .await;
    // The log was compacted long before node 4 joined: it caught up from a
    // snapshot, and both ends say so, in plain text.
    let node4 = cluster.log(4);
    assert!(node4.contains("installing the leader's snapshot"), "{node4}");
    assert!((1..=3).any(|id| cluster.log(id).contains("sending a snapshot")), "{}", cluster.logs());
    assert!((1..=4).all(|id| !cluster.log(id).contains('\x1b')), "terminal colour codes in a log file");
    client.promote(4).await.expect("promote 4");
    let voters = eventually("4 to be a voter", &cluster, || async {
        let s = client.status(&cluster.address(new_leader)).await.ok()?;
        let voters: Vec<u64> = s.members.iter().filter(|m| m.voter).map(|m| m.id).collect();
        voters.contains(&4).then_some(voters)
    })
    .await;
    assert_eq!(voters, vec![1, 2, 3, 4]);

    // Remove the current leader; another takes over.
    let client = Client::new((1..=4).map(|id| cluster.address(id)).collect(), None);
    let leader = eventually("a leader", &cluster, || leader_of(&cluster, &client, &[1, 2, 3, 4])).await;
    client.remove(leader).await.expect("remove the leader");
    let remaining: Vec<u64> = (1..=4).filter(|&id| id != leader).collect();
    let after_removal =
        eventually("a leader after removal", &cluster, || leader_of(&cluster, &client, &remaining)).await;
    cluster.kill(leader);

    // Hand leadership to another voter on purpose.
    let target = *remaining.iter().find(|&&id| id != after_removal).unwrap();
    let client = Client::new(remaining.iter().map(|&id| cluster.address(id)).collect(), None);
    client.transfer_leader(target).await.expect("transfer");
    eventually("the transfer", &cluster, || async {
        (leader_of(&cluster, &client, &remaining).await == Some(target)).then_some(())
    })
    .await;

    for &i in &acked {
        let got = client.get(&format!("k{i}"), Consistency::Lease).await.unwrap();
        assert_eq!(got.value, Some(value(i)), "k{i} after the membership changes");
    }
}

/// A leader that hands over must stop answering lease reads before the new
/// leader can acknowledge anything: lease reads are answered on the gRPC
/// worker from a lease the driver publishes (node/src/server/local_reads.rs),
/// and this is what withdrawing it before the TimeoutNow leaves guards. Each
/// round: once the new leader leads, the old one hears nothing more (so its
/// state stays behind), a write is acknowledged by the new leader, and a
/// lease read sent to the old one alone (no redirects followed) must refuse
/// or see that write, never answer with the value before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_hands_over_serves_no_stale_lease_read() {
    use node::proto::kv::{GetRequest, kv_client::KvClient};
    let mut cluster = Cluster::new(15, 17111);
    // A 2 s election timeout: a lease that outlives a whole handover by far,
    // so one not withdrawn would still be trusted when the read comes.
    cluster.bootstrap_with(&[1, 2, 3], &["--election-ticks".into(), "100".into()]);
    let client = cluster.client(&[1, 2, 3]);
    let mut leader = eventually("a leader", &cluster, || leader_of(&cluster, &client, &[1, 2, 3])).await;
    client.put("k", value(0)).await.unwrap();
    for round in 1..=4 {
        let next = leader % 3 + 1;
        let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
        let mut old = KvClient::connect(format!("http://{}", cluster.address(leader))).await.unwrap();
        let read = || GetRequest { key: "k".into(), consistency: Consistency::Lease as i32 };
        assert_eq!(old.get(read()).await.unwrap().into_inner().value, Some(value(round - 1)), "round {round}");

        client.transfer_leader(next).await.unwrap();
        let only_next = cluster.client(&[next]);
        let mut leads = false;
        for _ in 0..2000 {
            if only_next.status(&cluster.address(next)).await.is_ok_and(|s| s.role == "Leader") {
                leads = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(leads, "round {round}: node {next} never led\n{}", cluster.logs());
        client.set_faults(&cluster.address(leader), vec![], others.clone(), 0, 0).await.unwrap();
        only_next.put("k", value(round)).await.unwrap();
        let answer = old.get(read()).await;
        client.set_faults(&cluster.address(leader), vec![], vec![], 0, 0).await.unwrap();
        if let Ok(answer) = answer {
            let seen = answer.into_inner().value;
            assert_eq!(seen, Some(value(round)), "round {round}: node {leader} served a stale lease read");
        }
        leader = next;
    }
}
