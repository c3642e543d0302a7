//! What the load is sent to, behind one trait: raft-node, or an in-process
//! fake for tests and for measuring loadgen itself.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use node::client::{Client, ClientError};
use node::proto::kv::Consistency as NodeConsistency;
use serde_json::Value;

use crate::ops::{Op, OpKind};
use crate::workload::Consistency;

/// What became of one operation. The history needs the three apart.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It took effect; for reads, what was read (null for an absent key).
    Ok(Value),
    /// It certainly did not take effect (a cas whose compare failed, a
    /// refusal); the string says why.
    Failed(String),
    /// It may or may not have taken effect (timeout, lost connection).
    Unknown(String),
}

pub trait Driver: Send + Sync + 'static {
    fn execute(&self, op: &Op) -> impl Future<Output = Outcome> + Send;
}

/// An in-process target: answers every operation after `latency`, once
/// stalling for `stall` at the first operation sent after `stall_at`.
pub struct FakeDriver {
    pub latency: Duration,
    pub stall_at: Option<Duration>,
    pub stall: Duration,
    pub started: tokio::time::Instant,
    stalled: AtomicBool,
    gate: tokio::sync::Mutex<()>,
    store: Mutex<std::collections::HashMap<String, Value>>,
}

impl FakeDriver {
    pub fn new(latency: Duration) -> FakeDriver {
        FakeDriver {
            latency,
            stall_at: None,
            stall: Duration::ZERO,
            started: tokio::time::Instant::now(),
            stalled: AtomicBool::new(false),
            gate: tokio::sync::Mutex::new(()),
            store: Mutex::new(Default::default()),
        }
    }

    /// Stalls the whole target (every operation waits) once, for `stall`,
    /// when the first operation arrives after `at`.
    pub fn with_stall(mut self, at: Duration, stall: Duration) -> FakeDriver {
        self.stall_at = Some(at);
        self.stall = stall;
        self
    }
}

impl Driver for FakeDriver {
    async fn execute(&self, op: &Op) -> Outcome {
        {
            // One at a time through the gate, so a stall holds everyone up,
            // as a stalled server would.
            let _gate = self.gate.lock().await;
            if let Some(at) = self.stall_at
                && self.started.elapsed() >= at
                && !self.stalled.swap(true, Ordering::Relaxed)
            {
                tokio::time::sleep(self.stall).await;
            }
        }
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut store = self.store.lock().expect("not poisoned");
        let text = Value::String(String::from_utf8_lossy(&op.value).into_owned());
        match op.kind {
            OpKind::Read | OpKind::ReadModifyWrite => Outcome::Ok(store.get(&op.key).cloned().unwrap_or(Value::Null)),
            OpKind::Update | OpKind::Insert => {
                store.insert(op.key.clone(), text.clone());
                Outcome::Ok(text)
            }
            OpKind::Delete => {
                store.remove(&op.key);
                Outcome::Ok(Value::Null)
            }
            OpKind::Cas => {
                let expected = op.expected.as_ref().map(|e| Value::String(String::from_utf8_lossy(e).into_owned()));
                if store.get(&op.key) == expected.as_ref() {
                    store.insert(op.key.clone(), text.clone());
                    Outcome::Ok(text)
                } else {
                    Outcome::Failed("compare failed".into())
                }
            }
            OpKind::Append => {
                let list = store.entry(op.key.clone()).or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(items) = list {
                    items.push(text.clone());
                }
                Outcome::Ok(text)
            }
            OpKind::ListRead => Outcome::Ok(store.get(&op.key).cloned().unwrap_or(Value::Null)),
        }
    }
}

/// raft-node through its leader-tracking client.
pub struct RaftDriver {
    client: Client,
    consistency: NodeConsistency,
}

impl RaftDriver {
    pub fn new(endpoints: Vec<String>, consistency: Consistency) -> RaftDriver {
        let consistency = match consistency {
            Consistency::Lease => NodeConsistency::Lease,
            Consistency::ReadIndex => NodeConsistency::ReadIndex,
            Consistency::Follower => NodeConsistency::Follower,
            Consistency::Stale => NodeConsistency::Stale,
        };
        RaftDriver { client: Client::new(endpoints, None), consistency }
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

fn text(b: &Bytes) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn written(result: Result<u64, ClientError>, value: Value) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok(value),
        Err(ClientError::Failed(why)) => Outcome::Failed(why),
        Err(ClientError::Ambiguous(why)) => Outcome::Unknown(why),
    }
}

impl Driver for RaftDriver {
    async fn execute(&self, op: &Op) -> Outcome {
        let c = &self.client;
        match op.kind {
            OpKind::Read | OpKind::ReadModifyWrite => match c.get(&op.key, self.consistency).await {
                Ok(r) => Outcome::Ok(r.value.as_ref().map_or(Value::Null, text)),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            OpKind::Update | OpKind::Insert => written(c.put(&op.key, op.value.clone()).await, text(&op.value)),
            OpKind::Delete => written(c.delete(&op.key).await, Value::Null),
            OpKind::Append => written(c.append(&op.key, op.value.clone()).await, text(&op.value)),
            OpKind::ListRead => match c.read_list(&op.key, self.consistency).await {
                Ok(r) => Outcome::Ok(Value::Array(r.values.iter().map(text).collect())),
                Err(e) => Outcome::Failed(e.to_string()),
            },
            OpKind::Cas => match c.cas(&op.key, op.expected.clone(), op.value.clone()).await {
                Ok(r) if r.succeeded => Outcome::Ok(text(&op.value)),
                Ok(_) => Outcome::Failed("compare failed".into()),
                Err(ClientError::Failed(why)) => Outcome::Failed(why),
                Err(ClientError::Ambiguous(why)) => Outcome::Unknown(why),
            },
        }
    }
}
