//! The generated client side of loadgen's minimal etcd v3 protos
//! (`proto/etcd_kv.proto`, `proto/etcd_cluster.proto`): the KV service the
//! etcd driver sends the workload to, and the Maintenance and Cluster
//! services chaos uses to ask members about themselves and change the
//! membership.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("etcdserverpb");
