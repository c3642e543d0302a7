//! The process backend against real nodes: kill, restart, pause, and a
//! one-way cut that really cuts one direction only. Needs root and iptables
//! (`.ci/setup` installs it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chaos::backend::{Backend, CutMechanism, ProcessBackend, ProcessOptions};
use node::client::Client;
use tokio::net::TcpSocket;

mod common;

const PORT: u16 = 17301;

/// Whether a TCP connection from `from`'s IP to `to` opens within a second.
async fn connects(from: SocketAddr, to: SocketAddr) -> bool {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.ip(), 0)).unwrap();
    matches!(tokio::time::timeout(Duration::from_secs(1), socket.connect(to)).await, Ok(Ok(_)))
}

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
        binary: common::raft_node(),
        run_dir: dir.path().to_path_buf(),
        ip_base: 40,
        port: PORT,
        node_args: ["--tick-ms", "20", "--election-ticks", "10"].map(String::from).to_vec(),
        admin_token: None,
        use_iptables: true,
    };
    let chain;
    {
        let mut backend = ProcessBackend::new(options).unwrap();
        assert_eq!(backend.mechanism(), CutMechanism::Iptables, "this test needs root and iptables");
        chain = backend.firewall().unwrap().chain().to_string();
        for id in 1..=3 {
            backend.start(id, &[1, 2, 3], None).unwrap();
        }
        let (a1, a2, a3) = (backend.address(1), backend.address(2), backend.address(3));
        let client = Client::new(vec![a1.to_string(), a2.to_string(), a3.to_string()], None);
        wait_for("a leader", async || client.put("k", "v".into()).await.is_ok()).await;

        // Cut 1 -> 2: node 1 cannot open a connection to node 2, while node 2
        // still reaches node 1.
        assert_eq!(backend.cut(1, 2).unwrap(), CutMechanism::Iptables);
        assert!(!connects(a1, a2).await, "1 -> 2 must be cut");
        assert!(connects(a2, a1).await, "2 -> 1 must stay open");
        assert!(connects(a1, a3).await && connects(a3, a2).await, "other links stay open");
        assert!(backend.firewall().unwrap().dropped_packets().unwrap() > 0, "the rule dropped packets");
        backend.heal().unwrap();
        assert!(connects(a1, a2).await, "healed");

        // Pause: the node stops answering; resume: it answers again.
        backend.pause(3).unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(1), client.status(&a3.to_string())).await.is_err());
        backend.resume(3).unwrap();
        wait_for("node 3 to answer after resume", async || client.status(&a3.to_string()).await.is_ok()).await;

        // Kill -9 and restart on the same data.
        backend.kill(2).unwrap();
        assert!(!backend.is_running(2));
        assert!(client.status(&a2.to_string()).await.is_err());
        backend.restart(2).unwrap();
        wait_for("node 2 to catch up after restart", async || {
            client.status(&a2.to_string()).await.is_ok_and(|s| s.applied >= 2)
        })
        .await;
    }
    // Dropping the backend removed its processes and its firewall chain.
    let rules = std::process::Command::new("iptables").arg("-S").output().unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains(&chain), "chain {chain} left behind");
    let leftover = std::process::Command::new("pgrep").args(["-f", dir.path().to_str().unwrap()]).output().unwrap();
    assert!(leftover.stdout.is_empty(), "node processes left behind");
}
