//! Generated gRPC code for the three protos.

#![allow(clippy::all, missing_docs)]

pub mod raft {
    tonic::include_proto!("raftstorm.raft");
}
pub mod kv {
    tonic::include_proto!("raftstorm.kv");
}
pub mod admin {
    tonic::include_proto!("raftstorm.admin");
}
