//! The etcd driver against a real one-member etcd (Debian's etcd-server,
//! on the PATH: `.ci/setup` installs it) and a member that takes
//! connections and never answers, as a frozen process does: requests keep
//! away from the silent member once it has kept one waiting, instead of a
//! share of them each waiting out the timeout (etcd's own balancer).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use loadgen::driver::{Driver, EtcdDriver, Outcome};
use loadgen::workload::Consistency;
use tokio::task::JoinSet;

/// Killed when dropped, so a failing test leaves no etcd behind.
struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_etcd(dir: &std::path::Path, ip: &str, port: u16) -> Etcd {
    let (client, peer) = (format!("http://{ip}:{port}"), format!("http://{ip}:{}", port + 1));
    let child = Command::new("etcd")
        .args(["--name", "n1", "--data-dir", dir.to_str().unwrap()])
        .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("n1={peer}"), "--initial-cluster-state", "new"])
        .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("this test needs etcd on the PATH: run .ci/setup as root (or apt-get install -y etcd-server)");
    Etcd(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_away_from_a_member_that_stopped_answering() {
    let dir = tempfile::tempdir().unwrap();
    let _etcd = start_etcd(dir.path(), "127.0.0.175", 18120);
    // Listening, never accepting: connections complete, requests hang.
    let _silent = std::net::TcpListener::bind("127.0.0.176:18120").unwrap();
    let endpoints = vec!["127.0.0.176:18120".to_string(), "127.0.0.175:18120".to_string()];
    let mut driver = None;
    for _ in 0..50 {
        if let Ok(d) = EtcdDriver::connect(&endpoints, Duration::from_millis(500)).await {
            driver = Some(d);
            break;
        }
    }
    let mut driver = driver.expect("etcd answers within 50 probes");
    driver.election_timeout = Duration::from_millis(200);
    let driver = Arc::new(driver);

    let mut tasks = JoinSet::new();
    for task in 0..8 {
        let driver = driver.clone();
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            for n in 0..20 {
                let key = format!("k-{task}-{n}");
                outcomes.push(("put", driver.put(&key, Bytes::from("v")).await));
                outcomes.push(("get", driver.get(&key, Consistency::ReadIndex).await));
            }
            outcomes
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outcomes.extend(done.unwrap());
    }
    let failed_reads: Vec<&Outcome> =
        outcomes.iter().filter(|(f, o)| *f == "get" && !matches!(o, Outcome::Ok(_))).map(|(_, o)| o).collect();
    assert!(failed_reads.is_empty(), "a read moves on past the silent member: {failed_reads:?}");
    let writes: Vec<&Outcome> = outcomes.iter().filter(|(f, _)| *f == "put").map(|(_, o)| o).collect();
    let unknown = writes.iter().filter(|o| matches!(o, Outcome::Unknown(_))).count();
    assert!(writes.iter().all(|o| !matches!(o, Outcome::Failed(_))), "a timed-out write is unknown, never failed");
    // Blind round-robin would leave half of them unknown, each after the
    // whole timeout.
    assert!(unknown * 4 <= writes.len(), "{unknown} of {} writes went to the silent member", writes.len());
}
