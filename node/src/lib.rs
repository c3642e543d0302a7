//! A Raft key-value node: durable storage, the gRPC server that drives the
//! core, and a leader-tracking client.

pub mod client;
pub mod failpoints;
pub mod kv;
pub mod proto;
pub mod server;
pub mod storage;
pub mod wire;
