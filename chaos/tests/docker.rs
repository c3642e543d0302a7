//! The docker backend against real containers of the static raft-node:
//! a one-way cut is one way, a restarted container keeps its data, its
//! cuts and its shaped links, pause freezes, and nothing of a run is left
//! once it is dropped.
//! Needs Docker Engine (CI has it): without it these tests fail, saying so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chaos::backend::docker::{DockerBackend, DockerOptions, Engine, OWNER_LABEL, RUN_LABEL, image};
use chaos::backend::{Backend, BackendCapability, Shaping};
use chaos::system::{Bootstrap, Launch, MemberSpec, RaftNode, RaftNodeOptions, System};
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
    let port = common::DOCKER_PORT;
    let options = DockerOptions { run_dir: dir.path().to_path_buf(), port, peer_port: port, cut_accepted: false };
    DockerBackend::new(options)
        .await
        .unwrap_or_else(|e| panic!("these tests need Docker Engine running (CI has it): {e}"))
}

/// How raft-node's member `id` of members `1..=size` is launched there.
fn launch(backend: &mut DockerBackend, id: u64, size: u64) -> Launch {
    let raft_node = RaftNode::new(RaftNodeOptions {
        program: static_raft_node(),
        node_args: ["--tick-ms", "20", "--election-ticks", "10"].map(String::from).to_vec(),
        admin_token: None,
    });
    let peers = (1..=size).map(|p| (p, backend.place(p).unwrap().peer_address)).collect();
    let placement = backend.place(id).unwrap();
    raft_node.launch(&MemberSpec {
        id,
        address: placement.peer_address,
        client_address: placement.client_address,
        bootstrap: Bootstrap::Peers(peers),
        data_dir: placement.data_dir,
        cluster: format!("docker-test-{}", backend.run_id()),
        planted_bugs: Vec::new(),
    })
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
async fn a_one_way_cut_is_one_way_and_a_restarted_container_keeps_its_data_its_cuts_and_its_shaping() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = backend(&dir).await;
    let (run_id, engine) = (b.run_id().to_string(), b.engine().clone());
    let prefix = b.ip(0).to_string().rsplit_once('.').unwrap().0.to_string() + ".";
    for id in 1..=3 {
        let launch = launch(&mut b, id, 3);
        b.start(id, &launch).await.unwrap();
    }
    let addresses: Vec<SocketAddr> = (1..=3).map(|id| b.address(id)).collect();
    let client = Client::new(addresses.iter().map(|a| a.to_string()).collect(), None);
    wait_for("a leader to take a write", async || client.put("k", "v".into()).await.is_ok()).await;

    // Cut 1 -> 2: 1 cannot open a connection to 2's port, 2 still reaches 1.
    b.cut(1, 2).await.unwrap();
    assert!(b.probe(1, 2).await.unwrap().is_none(), "1 -> 2 must be cut");
    assert!(b.probe(2, 1).await.unwrap().is_some(), "2 -> 1 must stay open");
    assert!(
        b.probe(1, 3).await.unwrap().is_some() && b.probe(3, 2).await.unwrap().is_some(),
        "the other links stay open"
    );
    assert!(b.dropped_packets(1).unwrap() > 0, "the rule dropped packets");

    // 1 -> 3 shaped to lose every packet: 1 reaches neither peer now.
    assert!(b.capabilities().contains(&BackendCapability::PacketShaping), "this test needs NFQUEUE");
    let lossy = b.shape(&[(1, 3)], &Shaping { loss: 1.0, ..Shaping::default() }, 7).await.unwrap();
    assert!(b.probe(1, 3).await.unwrap().is_none(), "1 -> 3 loses every packet");

    // Every member killed and started again: the write can only come back
    // from their own data directories, and 1's cut holds in its new
    // namespace.
    b.kill(&[1, 2, 3]).await.unwrap();
    for id in 1..=3 {
        assert!(!b.is_running(id).await, "node {id} was killed");
    }
    assert!(client.status(&addresses[0].to_string()).await.is_err(), "a killed container does not answer");
    // Shaped while its sender is down: it holds once the sender starts (2
    // and 3 still reach each other, a majority).
    let shaped_while_down = b.shape(&[(3, 1)], &Shaping { loss: 1.0, ..Shaping::default() }, 8).await.unwrap();
    for id in 1..=3 {
        b.restart(id).await.unwrap();
    }
    wait_for("the write to be read back after the restarts", async || {
        client.get("k", Consistency::ReadIndex).await.is_ok_and(|r| r.value.as_deref() == Some(&b"v"[..]))
    })
    .await;
    assert!(b.probe(1, 2).await.unwrap().is_none(), "1 -> 2 stays cut after 1 restarted");
    assert!(b.probe(2, 1).await.unwrap().is_some(), "2 -> 1 stays open after the restarts");
    let dropped = b.shape_counts(lossy).dropped;
    assert!(b.probe(1, 3).await.unwrap().is_none(), "1 -> 3 still loses every packet after 1 restarted");
    assert!(b.shape_counts(lossy).dropped > dropped, "a shaper in 1's new namespace dropped them");
    b.unshape(lossy).await.unwrap();
    assert!(b.probe(1, 3).await.unwrap().is_some(), "1 -> 3 open once the shaping ended");
    assert!(b.probe(3, 1).await.unwrap().is_none(), "3 -> 1, shaped while 3 was down, loses every packet");
    assert!(b.shape_counts(shaped_while_down).dropped > 0);
    b.unshape(shaped_while_down).await.unwrap();
    assert!(b.probe(3, 1).await.unwrap().is_some(), "3 -> 1 open once that shaping ended");

    b.heal().await.unwrap();
    assert!(b.probe(1, 2).await.unwrap().is_some(), "healed");

    // Pause freezes the member; resume thaws it.
    b.pause(3).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(1), client.status(&addresses[2].to_string())).await;
    assert!(status.is_err(), "a paused member does not answer");
    assert!(b.is_running(3).await, "a paused member still runs");
    b.resume(3).await.unwrap();
    wait_for("node 3 to answer after resume", async || client.status(&addresses[2].to_string()).await.is_ok()).await;

    // Stop: SIGTERM, and raft-node exits on it.
    b.stop(2).await.unwrap();
    assert!(!b.is_running(2).await);
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

/// The containers and networks of the run that process `pid` owns.
async fn owned_by(engine: &Engine, pid: u32) -> Vec<String> {
    let owner = format!("{pid}:");
    let mut owned: Vec<String> = Vec::new();
    for (name, o) in engine.containers_labelled(OWNER_LABEL).await.unwrap() {
        if o.starts_with(&owner) {
            owned.push(format!("container {name}"));
        }
    }
    for (name, o) in engine.networks_labelled(OWNER_LABEL).await.unwrap() {
        if o.starts_with(&owner) {
            owned.push(format!("network {name}"));
        }
    }
    owned
}

/// Starts `chaos run` of the smoke scenario on docker and waits until its
/// three containers exist.
async fn start_smoke_run(engine: &Engine, out: &std::path::Path) -> std::process::Child {
    let binary = tokio::task::spawn_blocking(static_raft_node).await.unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("run")
        .arg(common::workloads().join("smoke.yaml"))
        .args(["--backend", "docker", "--binary"])
        .arg(binary)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = Instant::now();
    while owned_by(engine, pid).await.iter().filter(|o| o.starts_with("container")).count() < 3 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("chaos run exited ({status}) before its containers were up; see {}", out.display());
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the run's containers never all appeared");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child
}

#[tokio::test]
async fn a_run_ended_by_sigterm_leaves_nothing_behind() {
    let engine = Engine::connect().await.unwrap_or_else(|e| panic!("this test needs Docker Engine: {e}"));
    let out = tempfile::tempdir().unwrap();
    let mut child = start_smoke_run(&engine, out.path()).await;
    // SAFETY: kill(2) on the pid of a child not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "an interrupted run has no verdict");
    assert_eq!(owned_by(&engine, child.id()).await, Vec::<String>::new());
}

#[tokio::test]
async fn chaos_clean_removes_what_a_killed_run_left() {
    let engine = Engine::connect().await.unwrap_or_else(|e| panic!("this test needs Docker Engine: {e}"));
    let out = tempfile::tempdir().unwrap();
    let mut child = start_smoke_run(&engine, out.path()).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let left = owned_by(&engine, child.id()).await;
    assert!(left.len() >= 4, "a SIGKILLed run cannot clean up: {left:?}");
    let clean = std::process::Command::new(env!("CARGO_BIN_EXE_chaos")).arg("clean").output().unwrap();
    let said = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{said}{}", String::from_utf8_lossy(&clean.stderr));
    for thing in &left {
        let name = thing.split_once(' ').unwrap().1;
        assert!(said.lines().any(|l| l.trim() == name), "chaos clean did not name {name}:\n{said}");
    }
    assert_eq!(owned_by(&engine, child.id()).await, Vec::<String>::new());
}
