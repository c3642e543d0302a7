//! One `raft-node` process: flags, bad input, planted-bug warnings, metrics,
//! the Txn RPC.

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use node::client::Client;
use node::proto::kv::{Consistency, TxnCompare, TxnPut, TxnResponse};

const LISTEN: &str = "127.0.0.21:17201";
const METRICS: &str = "127.0.0.21:17291";

fn raft_node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_raft-node"))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_to_end(args: &[&str]) -> Output {
    raft_node().args(args).output().expect("raft-node runs")
}

#[test]
fn malformed_flags_are_usage_errors() {
    let out = run_to_end(&["--id", "1", "--listen", LISTEN, "--peers", "1=nowhere", "--data", "/tmp/unused"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nowhere\" is not IP:PORT"));
    let out = run_to_end(&["--id", "0", "--listen", LISTEN, "--data", "/tmp/unused"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_data_directory_of_another_node_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity"), "cluster=raftstorm node=7\n").unwrap();
    let data = dir.path().to_str().unwrap();
    let out =
        run_to_end(&["--id", "1", "--listen", "127.0.0.21:17202", "--peers", "1=127.0.0.21:17202", "--data", data]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("belongs to cluster=raftstorm node=7, not to cluster=raftstorm node=1"), "{stderr}");
}

#[test]
fn an_empty_directory_without_peers_or_join_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_to_end(&["--id", "1", "--listen", "127.0.0.21:17203", "--data", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --peers to bootstrap"));
}

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics listen");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[tokio::test]
async fn a_planted_bug_is_announced_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let data = dir.path().join("data");
    let _node = Running(
        raft_node()
            .args([
                "--id",
                "1",
                "--listen",
                LISTEN,
                "--peers",
                &format!("1={LISTEN}"),
                "--data",
                data.to_str().unwrap(),
            ])
            .args(["--tick-ms", "20", "--election-ticks", "10", "--metrics", METRICS])
            .args(["--unsafe-inject-bug", "forget-vote", "--admin-token", "s3cret"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let client = Client::new(vec![LISTEN.to_string()], None);
    let start = Instant::now();
    loop {
        if client.status(LISTEN).await.is_ok_and(|s| s.role == "Leader") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.put("k", "v".into()).await.unwrap();
    assert_eq!(client.get("k", Consistency::ReadIndex).await.unwrap().value.as_deref(), Some(&b"v"[..]));
    let status = client.status(LISTEN).await.unwrap();
    assert_eq!(status.unsafe_bugs, vec!["forget-vote"]);
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("UNSAFE BUGS PLANTED ON PURPOSE: forget-vote"), "{log}");

    // Membership changes and fault hooks need the admin token.
    let err = client.promote(9).await.unwrap_err().to_string();
    assert!(err.contains("needs the admin token"), "{err}");
    let admin = Client::new(vec![LISTEN.to_string()], Some("s3cret".into()));
    let err = admin.promote(9).await.unwrap_err().to_string();
    assert!(err.contains("9 is not a learner"), "with the token, the request itself is judged: {err}");

    let metrics = scrape(METRICS);
    assert!(metrics.contains("raft_role 3"), "{metrics}");
    // One put; a client attempt retried on a loaded machine proposes again.
    let proposals: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("raft_proposals_total "))
        .and_then(|v| v.parse().ok())
        .expect("a proposal count");
    assert!((1..=3).contains(&proposals), "{metrics}");
    assert!(metrics.contains("raft_reads_total{consistency=\"read_index\"} 1"), "{metrics}");
    let fsyncs: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("raft_wal_fsync_seconds_count "))
        .and_then(|v| v.parse().ok())
        .expect("an fsync count");
    assert!(fsyncs >= 1);
}

/// The Txn RPC over gRPC: puts all or nothing by its compares, reads after
/// them at the index it answers; a key holding a list refuses it whole.
#[tokio::test]
async fn a_txn_compares_then_puts_then_reads_at_one_index() {
    const TXN_LISTEN: &str = "127.0.0.61:18061";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _node = Running(
        raft_node()
            .args(["--id", "1", "--listen", TXN_LISTEN, "--peers", &format!("1={TXN_LISTEN}"), "--data"])
            .arg(&data)
            .args(["--tick-ms", "20", "--election-ticks", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = Client::new(vec![TXN_LISTEN.to_string()], None);
    let start = Instant::now();
    while !client.status(TXN_LISTEN).await.is_ok_and(|s| s.role == "Leader") {
        assert!(start.elapsed() < Duration::from_secs(30), "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let compare = |key: &str, expected: Option<&'static str>| TxnCompare {
        key: key.into(),
        expected: expected.map(|e| bytes::Bytes::from_static(e.as_bytes())),
    };
    let put = |key: &str, value: &'static str| TxnPut { key: key.into(), value: value.into() };
    let reads = || vec!["a".to_string(), "b".to_string()];
    let values = |r: &TxnResponse| r.reads.iter().map(|r| r.value.clone()).collect::<Vec<_>>();

    let opened = client.txn(vec![compare("a", None), compare("b", None)], vec![put("a", "5"), put("b", "5")], reads());
    let opened = opened.await.unwrap();
    assert!(opened.succeeded);
    assert_eq!(values(&opened), [Some("5".into()), Some("5".into())]);
    let stale = client.txn(vec![compare("a", Some("5")), compare("b", Some("4"))], vec![put("a", "0")], reads());
    let stale = stale.await.unwrap();
    assert!(!stale.succeeded && stale.index > opened.index);
    assert_eq!(values(&stale), values(&opened), "nothing was put");
    let read_only = client.txn(vec![], vec![], reads()).await.unwrap();
    assert_eq!(values(&read_only), values(&opened));

    client.append("l", "x".into()).await.unwrap();
    let err = client.txn(vec![], vec![put("a", "9")], vec!["l".into()]).await.unwrap_err().to_string();
    assert!(err.contains("holds a list"), "{err}");
    assert_eq!(client.get("a", Consistency::ReadIndex).await.unwrap().value.as_deref(), Some(&b"5"[..]));
}

/// Out of file descriptors, the listener's accepts fail at once, again and
/// again: the node waits longer after each (a handful of log lines, where
/// retrying at once spun a core and logged without end), and serves again
/// once descriptors are free.
#[tokio::test]
async fn out_of_descriptors_the_node_backs_off_accepting_and_serves_once_they_are_free() {
    const LISTEN: &str = "127.0.0.62:18062";
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("node.log");
    // A limit low enough for a few dozen connections to exhaust it.
    let command = format!(
        "ulimit -n 96 && exec {} --id 1 --listen {LISTEN} --peers 1={LISTEN} --data {} --tick-ms 20 --election-ticks 10",
        env!("CARGO_BIN_EXE_raft-node"),
        dir.path().join("data").display()
    );
    let log = std::fs::File::create(&log_path).unwrap();
    let _node = Running(Command::new("sh").args(["-c", &command]).stdout(Stdio::null()).stderr(log).spawn().unwrap());
    let client = Client::new(vec![LISTEN.to_string()], None);
    let start = Instant::now();
    while !client.status(LISTEN).await.is_ok_and(|s| s.role == "Leader") {
        assert!(start.elapsed() < Duration::from_secs(30), "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failures = || std::fs::read_to_string(&log_path).unwrap().matches("accept failed").count();
    let mut held = Vec::new();
    while failures() == 0 {
        assert!(held.len() < 200, "200 connections and no accept failed");
        held.push(std::net::TcpStream::connect(LISTEN).unwrap());
        std::thread::sleep(Duration::from_millis(5));
    }
    // Two seconds out of descriptors: backing off from 5 ms, doubling, is
    // about 9 failed accepts; at once, it was thousands.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failed = failures();
    assert!(failed < 40, "{failed} failed accepts in 2 s");
    drop(held);
    tokio::time::timeout(Duration::from_secs(30), client.put("k", "v".into()))
        .await
        .expect("a put within 30 s of the descriptors coming free")
        .expect("the node serves again");
}
