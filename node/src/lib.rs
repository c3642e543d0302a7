//! A Raft key-value node: durable storage, the gRPC server that drives the
//! core, and a leader-tracking client.

pub mod client;
pub mod failpoints;
pub mod kv;
pub mod proto;
pub mod server;
pub mod storage;
pub mod wire;

/// The multi-threaded tokio runtime of raft-node and loadgen, with
/// `workers` threads (`--workers`), or one per CPU.
pub fn runtime(workers: Option<u16>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers.into());
    }
    builder.enable_all().build()
}
