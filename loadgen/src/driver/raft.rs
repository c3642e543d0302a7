//! raft-node through its leader-tracking client (`node::client`), which
//! follows redirects, retries what it safely can, and says whether a failed
//! write certainly did not apply.

use bytes::Bytes;
use node::client::{Client, ClientError};
use node::proto::kv::{Consistency as NodeConsistency, TxnCompare, TxnPut};
use serde_json::Value;

use super::{COMPARE_FAILED, Driver, Outcome, registers, text};
use crate::workload::Consistency;

pub struct RaftDriver {
    client: Client,
}

/// raft-node serves each of the workload's consistencies as such.
fn node_consistency(c: Consistency) -> NodeConsistency {
    match c {
        Consistency::Lease => NodeConsistency::Lease,
        Consistency::ReadIndex => NodeConsistency::ReadIndex,
        Consistency::Follower => NodeConsistency::Follower,
        Consistency::Stale => NodeConsistency::Stale,
    }
}

impl RaftDriver {
    pub fn new(endpoints: Vec<String>) -> RaftDriver {
        RaftDriver { client: Client::new(endpoints, None) }
    }

    /// Fails fast when no endpoint answers.
    pub async fn check_reachable(&self) -> Result<(), String> {
        for ep in self.client.endpoints() {
            if self.client.status(ep).await.is_ok() {
                return Ok(());
            }
        }
        Err(format!("no endpoint of {} answers", self.client.endpoints().join(",")))
    }
}

fn written<T>(result: Result<T, ClientError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok(Value::Null),
        Err(ClientError::Failed(why)) => Outcome::Failed(why),
        Err(ClientError::Ambiguous(why)) => Outcome::Unknown(why),
    }
}

/// A read that failed had no effect, whatever the client could tell.
fn read<T>(result: Result<T, ClientError>, value: impl FnOnce(T) -> Value) -> Outcome {
    match result {
        Ok(r) => Outcome::Ok(value(r)),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

impl Driver for RaftDriver {
    async fn get(&self, key: &str, consistency: Consistency) -> Outcome {
        read(self.client.get(key, node_consistency(consistency)).await, |r| {
            r.value.as_deref().map_or(Value::Null, text)
        })
    }

    async fn put(&self, key: &str, value: Bytes) -> Outcome {
        written(self.client.put(key, value).await)
    }

    async fn delete(&self, key: &str) -> Outcome {
        written(self.client.delete(key).await)
    }

    async fn cas(&self, key: &str, expected: Option<Bytes>, new: Bytes) -> Outcome {
        match self.client.cas(key, expected, new).await {
            Ok(r) if !r.succeeded => Outcome::Failed(COMPARE_FAILED.into()),
            other => written(other),
        }
    }

    /// One read-only Txn, through the log.
    async fn read_registers(&self, keys: &[String]) -> Outcome {
        read(self.client.txn(Vec::new(), Vec::new(), keys.to_vec()).await, |r| {
            registers(r.reads.iter().map(|read| (read.key.as_str(), read.value.as_deref())))
        })
    }

    async fn write_if(&self, compares: &[(String, Option<Bytes>)], puts: &[(String, Bytes)]) -> Outcome {
        let compares = compares
            .iter()
            .map(|(key, expected)| TxnCompare { key: key.clone(), expected: expected.clone() })
            .collect();
        let puts = puts.iter().map(|(key, value)| TxnPut { key: key.clone(), value: value.clone() }).collect();
        match self.client.txn(compares, puts, Vec::new()).await {
            Ok(r) if !r.succeeded => Outcome::Failed(COMPARE_FAILED.into()),
            other => written(other),
        }
    }

    async fn append(&self, key: &str, value: Bytes) -> Outcome {
        written(self.client.append(key, value).await)
    }

    async fn read_list(&self, key: &str, consistency: Consistency) -> Outcome {
        read(self.client.read_list(key, node_consistency(consistency)).await, |r| {
            Value::Array(r.values.iter().map(|v| text(v)).collect())
        })
    }

    fn read_kind(&self, consistency: Consistency) -> &'static str {
        consistency.name()
    }
}
