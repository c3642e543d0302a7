//! The process backend against real raft-node members: kill, restart,
//! pause, and a one-way cut that really cuts one direction only. Needs root
//! and iptables (`.ci/setup` installs it).

use std::time::{Duration, Instant};

use chaos::backend::{Backend, CutMechanism, ProcessBackend, ProcessOptions};
use chaos::system::{Bootstrap, MemberSpec, RaftNode, RaftNodeOptions, System};
use node::client::Client;

mod common;

const PORT: u16 = 17301;

async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_pause_and_a_one_way_cut() {
    let dir = tempfile::tempdir().unwrap();
    let options = ProcessOptions {
        run_dir: dir.path().to_path_buf(),
        ip_base: 40,
        port: PORT,
        peer_port: PORT,
        cut_accepted: false,
        sends_from_own_address: true,
        use_iptables: true,
    };
    let system = RaftNode::new(RaftNodeOptions {
        program: common::raft_node(),
        node_args: ["--tick-ms", "20", "--election-ticks", "10"].map(String::from).to_vec(),
        admin_token: None,
    });
    let chain;
    {
        let mut backend = ProcessBackend::new(options).unwrap();
        assert_eq!(backend.cut_mechanism(), Some(CutMechanism::Iptables), "this test needs root and iptables");
        chain = backend.firewall().unwrap().chain().to_string();
        let placements: Vec<_> = (1..=3).map(|id| backend.place(id).unwrap()).collect();
        let peers: Vec<_> = placements.iter().zip(1..).map(|(p, id)| (id, p.peer_address)).collect();
        for (p, id) in placements.iter().zip(1..) {
            let member = MemberSpec {
                id,
                address: p.peer_address,
                client_address: p.client_address,
                bootstrap: Bootstrap::Peers(peers.clone()),
                data_dir: p.data_dir.clone(),
                cluster: "backend-test".into(),
                planted_bugs: vec![],
            };
            backend.start(id, &system.launch(&member)).await.unwrap();
        }
        let [a1, a2, a3] = [0, 1, 2].map(|i| placements[i].harness_address);
        let client = Client::new(vec![a1.to_string(), a2.to_string(), a3.to_string()], None);
        wait_for("a leader", async || client.put("k", "v".into()).await.is_ok()).await;

        // Cut 1 -> 2: node 1 cannot open a connection to node 2, while node 2
        // still reaches node 1.
        backend.cut(1, 2).await.unwrap();
        assert!(!backend.probe(1, 2).await.unwrap(), "1 -> 2 must be cut");
        assert!(backend.probe(2, 1).await.unwrap(), "2 -> 1 must stay open");
        assert!(backend.probe(1, 3).await.unwrap() && backend.probe(3, 2).await.unwrap(), "other links stay open");
        assert!(backend.firewall().unwrap().dropped_packets().unwrap() > 0, "the rule dropped packets");
        backend.heal().await.unwrap();
        assert!(backend.probe(1, 2).await.unwrap(), "healed");

        // Pause: the node stops answering but still runs; resume: it answers again.
        backend.pause(3).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(1), system.status(a3)).await.is_err());
        assert!(backend.is_running(3).await, "a paused member still runs");
        backend.resume(3).await.unwrap();
        wait_for("node 3 to answer after resume", async || system.status(a3).await.is_ok()).await;

        // Kill -9 and restart on the same data.
        backend.kill(&[2]).await.unwrap();
        assert!(!backend.is_running(2).await);
        assert!(system.status(a2).await.is_err());
        backend.restart(2).await.unwrap();
        wait_for("node 2 to catch up after restart", async || system.status(a2).await.is_ok_and(|s| s.applied >= 2))
            .await;
        assert_eq!(system.status(a2).await.unwrap().cluster, "backend-test", "status names the cluster");
    }
    // Dropping the backend removed its processes and its firewall chain.
    let rules = std::process::Command::new("iptables").arg("-S").output().unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains(&chain), "chain {chain} left behind");
    let leftover = std::process::Command::new("pgrep").args(["-f", dir.path().to_str().unwrap()]).output().unwrap();
    assert!(leftover.stdout.is_empty(), "node processes left behind");
}
