//! Prometheus metrics, served as text on `--metrics ADDR` at `/metrics`.
//!
//! A handful of atomics updated by the driver and disk threads; the HTTP
//! side only reads them. Small enough not to need a metrics library.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::warn;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i].fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", self.counts[i].load(Relaxed));
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    /// 0 follower, 1 pre-candidate, 2 candidate, 3 leader.
    pub role: AtomicU64,
    pub term: AtomicU64,
    pub commit: AtomicU64,
    pub applied: AtomicU64,
    pub proposals: AtomicU64,
    pub proposals_failed: AtomicU64,
    /// Reads served, by consistency: lease, read_index, follower, stale.
    pub reads: [AtomicU64; 4],
    pub append: Histogram,
    pub fsync: Histogram,
    pub inflight: Mutex<BTreeMap<u64, u64>>,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(&mut out, "raft_role", "0 follower, 1 pre-candidate, 2 candidate, 3 leader", self.role.load(Relaxed));
        gauge(&mut out, "raft_term", "current term", self.term.load(Relaxed));
        gauge(&mut out, "raft_commit_index", "highest committed index", self.commit.load(Relaxed));
        gauge(&mut out, "raft_applied_index", "highest applied index", self.applied.load(Relaxed));
        let _ = writeln!(out, "# HELP raft_proposals_total writes proposed\n# TYPE raft_proposals_total counter");
        let _ = writeln!(out, "raft_proposals_total {}", self.proposals.load(Relaxed));
        let _ = writeln!(out, "raft_proposals_failed_total {}", self.proposals_failed.load(Relaxed));
        let _ = writeln!(out, "# HELP raft_reads_total reads served, by consistency\n# TYPE raft_reads_total counter");
        for (i, path) in ["lease", "read_index", "follower", "stale"].iter().enumerate() {
            let _ = writeln!(out, "raft_reads_total{{consistency=\"{path}\"}} {}", self.reads[i].load(Relaxed));
        }
        self.append.render("raft_wal_append_seconds", "time to write one batch to the WAL", &mut out);
        self.fsync.render("raft_wal_fsync_seconds", "time of one fdatasync", &mut out);
        let _ = writeln!(out, "# HELP raft_inflight_appends Appends in flight per follower (leader only)");
        let _ = writeln!(out, "# TYPE raft_inflight_appends gauge");
        for (peer, n) in self.inflight.lock().expect("not poisoned").iter() {
            let _ = writeln!(out, "raft_inflight_appends{{peer=\"{peer}\"}} {n}");
        }
        out
    }
}

/// Serves `/metrics` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: std::sync::Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let body = metrics.render();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                if let Err(e) = socket.write_all(response.as_bytes()).await {
                    warn!(error = %e, "metrics response failed");
                }
            });
        }
    });
    Ok(())
}
