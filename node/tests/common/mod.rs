//! Real `raft-node` processes for the cluster tests: each test file takes
//! its own addresses (127.0.0.`ip_base`+id, one port) so tests running in
//! parallel never collide: cluster.rs 10+/17101, wiped_node.rs 20+/17121,
//! 30+/17131 and 40+/17141, client_failover.rs 50+/17151, 160+/18100 and
//! 165+/18101, failpoints.rs 60+/17161.

#![allow(dead_code)] // each test file uses its own part

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use node::client::Client;

/// The node processes; killed when dropped, so a failing test leaves none.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<u64, Child>,
    ip_base: u8,
    port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.nodes.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    pub fn new(ip_base: u8, port: u16) -> Cluster {
        Cluster { dir: tempfile::tempdir().unwrap(), nodes: BTreeMap::new(), ip_base, port }
    }

    pub fn address(&self, id: u64) -> String {
        format!("127.0.0.{}:{}", u64::from(self.ip_base) + id, self.port)
    }

    /// `--peers` naming nodes `ids`.
    pub fn peers(&self, ids: &[u64]) -> String {
        ids.iter().map(|&id| format!("{id}={}", self.address(id))).collect::<Vec<_>>().join(",")
    }

    pub fn data_dir(&self, id: u64) -> std::path::PathBuf {
        self.dir.path().join(format!("n{id}"))
    }

    /// Starts node `id` with short timeouts, unless `extra` gives its own.
    pub fn start(&mut self, id: u64, extra: &[String]) {
        let data = self.data_dir(id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("n{id}.log")))
            .unwrap();
        let defaults = [("--tick-ms", "20"), ("--election-ticks", "10"), ("--snapshot-every", "300")];
        let defaults = defaults.into_iter().filter(|(flag, _)| !extra.iter().any(|a| a == flag));
        let child = Command::new(env!("CARGO_BIN_EXE_raft-node"))
            .args(["--id", &id.to_string(), "--listen", &self.address(id), "--data", data.to_str().unwrap()])
            .args(defaults.flat_map(|(flag, value)| [flag, value]))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("raft-node starts");
        self.nodes.insert(id, child);
    }

    /// Starts nodes `ids` as the founding members of one cluster.
    pub fn bootstrap(&mut self, ids: &[u64]) {
        self.bootstrap_with(ids, &[]);
    }

    /// The same, each node also given `extra`.
    pub fn bootstrap_with(&mut self, ids: &[u64], extra: &[String]) {
        let peers = self.peers(ids);
        for &id in ids {
            let args: Vec<String> =
                ["--peers".to_string(), peers.clone()].into_iter().chain(extra.iter().cloned()).collect();
            self.start(id, &args);
        }
    }

    pub fn kill(&mut self, id: u64) {
        let mut child = self.nodes.remove(&id).expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits (at most 30 s) for node `id` to exit by itself.
    pub fn wait_for_exit(&mut self, id: u64) -> ExitStatus {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.nodes.get_mut(&id).expect("started").try_wait().unwrap() {
                self.nodes.remove(&id);
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("node {id} is still running\n{}", self.logs());
    }

    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("n{id}.log"))).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for id in 1..=9 {
            let log = self.log(id);
            if !log.is_empty() {
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                out +=
                    &format!("--- node {id} (last lines)\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
        }
        out
    }

    /// A client of nodes `ids`.
    pub fn client(&self, ids: &[u64]) -> Client {
        Client::new(ids.iter().map(|&id| self.address(id)).collect(), None)
    }
}

/// Polls until `check` returns Some, for at most 30 s.
pub async fn eventually<T, F, Fut>(what: &str, cluster: &Cluster, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}\n{}", cluster.logs());
}

pub async fn leader_of(cluster: &Cluster, client: &Client, ids: &[u64]) -> Option<u64> {
    for &id in ids {
        if let Ok(s) = client.status(&cluster.address(id)).await
            && s.role == "Leader"
        {
            return Some(id);
        }
    }
    None
}
