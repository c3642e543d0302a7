//! The process backend against real raft-node members: kill, restart,
//! pause, and a one-way cut that really cuts one direction only. Needs root
//! and iptables (`.ci/setup` installs it).

use std::time::{Duration, Instant};

use chaos::backend::{Backend, BackendCapability, CutMechanism, ProcessBackend, ProcessOptions, Shaping};
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
async fn kill_pause_a_one_way_cut_and_shaped_links() {
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
        assert!(backend.probe(1, 2).await.unwrap().is_none(), "1 -> 2 must be cut");
        assert!(backend.probe(2, 1).await.unwrap().is_some(), "2 -> 1 must stay open");
        assert!(
            backend.probe(1, 3).await.unwrap().is_some() && backend.probe(3, 2).await.unwrap().is_some(),
            "other links stay open"
        );
        assert!(backend.firewall().unwrap().dropped_packets().unwrap() > 0, "the rule dropped packets");
        backend.heal().await.unwrap();
        assert!(backend.probe(1, 2).await.unwrap().is_some(), "healed");

        shaped_links_are_delayed_lost_copied_and_paced(&mut backend, &client).await;

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

/// Packet shaping on the links of a running cluster: a delay shows in a
/// probe's connect time on the shaped link only, loss loses probes, copies
/// and pacing are counted, writes still go through, and unshaping ends it
/// all. Bounds are loose (a loaded machine adds milliseconds, never removes
/// them).
async fn shaped_links_are_delayed_lost_copied_and_paced(backend: &mut ProcessBackend, client: &Client) {
    assert!(backend.capabilities().contains(&BackendCapability::PacketShaping), "this test needs NFQUEUE (root)");
    let delay = Duration::from_millis(150);
    let id = backend.shape(&[(1, 2)], &Shaping { delay, ..Shaping::default() }, 1).await.unwrap();
    let held = backend.probe(1, 2).await.unwrap().expect("a delayed link still connects");
    assert!(held >= delay.mul_f64(0.9), "1 -> 2 held {held:?}");
    let reverse = backend.probe(2, 1).await.unwrap().expect("2 -> 1 is open");
    assert!(reverse < delay / 2, "2 -> 1 is not delayed: {reverse:?}");
    client.put("shaped", "v".into()).await.expect("writes go through a delayed link");
    assert!(backend.shape_counts(id).seen > 0);
    let counts = backend.unshape(id).await.unwrap();
    assert!(counts.seen > 0 && counts.dropped == 0, "{counts:?}");
    assert_eq!(backend.shape_counts(id), Default::default(), "gone once it ended");
    wait_for("1 -> 2 fast again", async || backend.probe(1, 2).await.unwrap().is_some_and(|t| t < delay / 2)).await;

    let id = backend.shape(&[(1, 2), (1, 3)], &Shaping { loss: 1.0, ..Shaping::default() }, 2).await.unwrap();
    assert!(backend.probe(1, 2).await.unwrap().is_none(), "every packet lost");
    assert!(backend.probe(1, 3).await.unwrap().is_none(), "on both links");
    assert!(backend.probe(2, 3).await.unwrap().is_some(), "other links untouched");
    assert!(backend.unshape(id).await.unwrap().dropped >= 2);
    assert!(backend.probe(1, 2).await.unwrap().is_some(), "healed");

    let id = backend.shape(&[(2, 1), (3, 1)], &Shaping { duplicate: 1.0, ..Shaping::default() }, 3).await.unwrap();
    assert!(backend.probe(2, 1).await.unwrap().is_some(), "a duplicated SYN still connects");
    client.put("copied", "v".into()).await.expect("writes go through duplicated links");
    let counts = backend.unshape(id).await.unwrap();
    assert!(counts.duplicated > 0 && counts.duplicated == counts.seen, "{counts:?}");

    let id = backend.shape(&[(1, 2)], &Shaping { rate: Some(200), ..Shaping::default() }, 4).await.unwrap();
    // A SYN is 60 bytes: a third of a second each at 200 B/s; the second
    // probe waits behind the first's packets.
    let first = backend.probe(1, 2).await.unwrap();
    assert!(first.is_some_and(|t| t >= Duration::from_millis(250)), "paced: {first:?}");
    let counts = backend.unshape(id).await.unwrap();
    assert!(counts.bytes_passed > 0, "{counts:?}");
}
