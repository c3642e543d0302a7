//! A Raft key-value node: durable storage, the gRPC server that drives the
//! core, and a leader-tracking client.

pub mod client;
pub mod failpoints;
pub mod kv;
pub mod proto;
pub mod runtimes;
pub mod server;
pub mod storage;
pub mod unvectored;
pub mod wire;

/// The multi-threaded tokio runtime of raft-node (`ctl`, and a node's
/// bootstrap and join tasks), with `workers` threads (`--workers`), or one
/// per CPU.
pub fn runtime(workers: Option<u16>) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(thread_count(workers)).enable_all().build()
}

/// `--workers` of raft-node and loadgen: as given, or one per CPU.
pub fn thread_count(workers: Option<u16>) -> usize {
    workers.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), usize::from)
}
