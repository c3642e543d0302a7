//! The docker backend against real containers of the static raft-node:
//! a one-way cut is one way, a restarted container keeps its data and its
//! cuts, pause freezes, and nothing of a run is left once it is dropped.
//! Needs Docker Engine (CI has it): without it these tests fail, saying so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chaos::backend::docker::{DockerBackend, DockerOptions, Engine, RUN_LABEL, image};
use node::client::Client;
use node::proto::kv::Consistency;

mod common;

/// The static raft-node, built once for every test here.
fn static_raft_node() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| image::build_static_binary().unwrap_or_else(|e| panic!("{e}"))).clone()
}

async fn backend(dir: &tempfile::TempDir) -> DockerBackend {
    let binary = tokio::task::spawn_blocking(static_raft_node).await.unwrap();
    assert!(binary.exists());
    let options = DockerOptions { run_dir: dir.path().to_path_buf(), port: common::DOCKER_PORT };
    DockerBackend::new(options)
        .await
        .unwrap_or_else(|e| panic!("these tests need Docker Engine running (CI has it): {e}"))
}

/// raft-node's command line for member `id` of members `1..=size`.
fn node_args(backend: &DockerBackend, id: u64, size: u64) -> Vec<String> {
    let peers: Vec<String> = (1..=size).map(|p| format!("{p}={}", backend.address(p))).collect();
    let data = DockerBackend::data_dir();
    [
        "--id",
        &id.to_string(),
        "--listen",
        &backend.address(id).to_string(),
        "--peers",
        &peers.join(","),
        "--data",
        &data.to_string_lossy(),
        "--track-durable-writes",
        "--tick-ms",
        "20",
        "--election-ticks",
        "10",
    ]
    .map(String::from)
    .to_vec()
}

async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether anything Docker or the host firewall holds still names the run.
async fn leftovers(engine: &Engine, run_id: &str, subnet_prefix: &str) -> Vec<String> {
    let mut left = Vec::new();
    for (name, run) in engine.containers_labelled(RUN_LABEL).await.unwrap() {
        if run == run_id {
            left.push(format!("container {name}"));
        }
    }
    for (name, run) in engine.networks_labelled(RUN_LABEL).await.unwrap() {
        if run == run_id {
            left.push(format!("network {name}"));
        }
    }
    let rules = std::process::Command::new("iptables").arg("-S").output().expect("iptables on the host");
    for rule in String::from_utf8_lossy(&rules.stdout).lines().filter(|r| r.contains(subnet_prefix)) {
        left.push(format!("host rule {rule}"));
    }
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_cut_is_one_way_and_a_restarted_container_keeps_its_data_and_its_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = backend(&dir).await;
    let (run_id, engine) = (b.run_id().to_string(), b.engine().clone());
    let prefix = b.ip(0).to_string().rsplit_once('.').unwrap().0.to_string() + ".";
    let program = static_raft_node();
    for id in 1..=3 {
        let args = node_args(&b, id, 3);
        b.start(id, &program, &args, &[]).await.unwrap();
    }
    let addresses: Vec<SocketAddr> = (1..=3).map(|id| b.address(id)).collect();
    let client = Client::new(addresses.iter().map(|a| a.to_string()).collect(), None);
    wait_for("a leader to take a write", async || client.put("k", "v".into()).await.is_ok()).await;

    // Cut 1 -> 2: 1 cannot open a connection to 2's port, 2 still reaches 1.
    b.cut(1, 2).await.unwrap();
    assert!(!b.probe(1, 2).await.unwrap(), "1 -> 2 must be cut");
    assert!(b.probe(2, 1).await.unwrap(), "2 -> 1 must stay open");
    assert!(b.probe(1, 3).await.unwrap() && b.probe(3, 2).await.unwrap(), "the other links stay open");
    assert!(b.dropped_packets(1).unwrap() > 0, "the rule dropped packets");

    // Every member killed and started again: the write can only come back
    // from their own data directories, and 1's cut holds in its new
    // namespace.
    b.kill(&[1, 2, 3]).await.unwrap();
    for id in 1..=3 {
        assert!(!b.is_running(id).await.unwrap(), "node {id} was killed");
    }
    assert!(client.status(&addresses[0].to_string()).await.is_err(), "a killed container does not answer");
    for id in 1..=3 {
        b.restart(id).await.unwrap();
    }
    wait_for("the write to be read back after the restarts", async || {
        client.get("k", Consistency::ReadIndex).await.is_ok_and(|r| r.value.as_deref() == Some(&b"v"[..]))
    })
    .await;
    assert!(!b.probe(1, 2).await.unwrap(), "1 -> 2 stays cut after 1 restarted");
    assert!(b.probe(2, 1).await.unwrap(), "2 -> 1 stays open after the restarts");

    b.heal().await.unwrap();
    assert!(b.probe(1, 2).await.unwrap(), "healed");

    // Pause freezes the member; resume thaws it.
    b.pause(3).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(1), client.status(&addresses[2].to_string())).await;
    assert!(status.is_err(), "a paused member does not answer");
    assert!(b.is_running(3).await.unwrap(), "a paused member still runs");
    b.resume(3).await.unwrap();
    wait_for("node 3 to answer after resume", async || client.status(&addresses[2].to_string()).await.is_ok()).await;

    // Stop: SIGTERM, and raft-node exits on it.
    b.stop(2).await.unwrap();
    assert!(!b.is_running(2).await.unwrap());
    let log = std::fs::read_to_string(b.log_path(1)).unwrap();
    assert!(!log.is_empty(), "node 1's log was collected");

    drop(b);
    assert_eq!(leftovers(&engine, &run_id, &prefix).await, Vec::<String>::new());
}

#[test]
fn docker_unreachable_is_one_clear_line_and_exit_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("clean")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: Docker is not available at unix:///nonexistent/docker.sock: "), "{stderr}");
}
