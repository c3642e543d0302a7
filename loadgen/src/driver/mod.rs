//! What the load is sent to, behind one trait: raft-node, etcd, or an
//! in-process fake for tests and for measuring loadgen itself.
//!
//! Each read names the workload's consistency for it, which the driver maps
//! to what its target offers ([`Driver::read_kind`] names the result for
//! the history); a driver answers one operation at a time per call, and
//! calls run concurrently.

mod etcd;
mod fake;
mod raft;

use std::future::Future;

use bytes::Bytes;
use serde_json::Value;

use crate::workload::Consistency;

pub use etcd::{ConnectError, EtcdDriver};
pub use fake::{FakeDriver, FakeOptions};
pub use raft::RaftDriver;

/// What became of one operation. The history needs the three apart.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It took effect; a read carries what it read (null for an absent
    /// key or list), a write carries null.
    Ok(Value),
    /// It certainly did not take effect (a cas whose compare failed, a
    /// refusal, a request that never left); the string says why.
    Failed(String),
    /// It may or may not have taken effect (a timeout or a lost connection
    /// after the request was sent).
    Unknown(String),
}

/// Why a driver refuses a range scan.
pub const SCAN_UNSUPPORTED: &str = "range scans are not supported by this target";

/// One target. Keys and values are the generator's (ASCII text); values read
/// come back as JSON strings, lists as JSON arrays of strings.
pub trait Driver: Send + Sync + 'static {
    /// Reads one key at `consistency` (as this target serves it).
    fn get(&self, key: &str, consistency: Consistency) -> impl Future<Output = Outcome> + Send;
    fn put(&self, key: &str, value: Bytes) -> impl Future<Output = Outcome> + Send;
    fn delete(&self, key: &str) -> impl Future<Output = Outcome> + Send;
    /// Writes `new` if the key holds `expected` (`None`: the key is absent);
    /// a compare that does not hold is `Failed`.
    fn cas(&self, key: &str, expected: Option<Bytes>, new: Bytes) -> impl Future<Output = Outcome> + Send;
    /// Adds `value` at the end of the list at `key`.
    fn append(&self, key: &str, value: Bytes) -> impl Future<Output = Outcome> + Send;
    /// The whole list at `key`, oldest first (null when nothing was
    /// appended), read at `consistency`.
    fn read_list(&self, key: &str, consistency: Consistency) -> impl Future<Output = Outcome> + Send;
    /// Several registers read at one point of the target's history (one
    /// log index, one revision), linearizably: a JSON object from each key
    /// to its value (null: absent).
    fn read_registers(&self, keys: &[String]) -> impl Future<Output = Outcome> + Send;
    /// Atomically: if every `(key, expected)` holds (`None`: the key is
    /// absent), writes every `(key, value)`; a compare that does not hold
    /// is `Failed`.
    fn write_if(
        &self,
        compares: &[(String, Option<Bytes>)],
        puts: &[(String, Bytes)],
    ) -> impl Future<Output = Outcome> + Send;
    /// The kind of read this target serves for `consistency`, by its own
    /// name for it, as the history records it: so a stale read can be told
    /// from a linearizable one that went wrong.
    fn read_kind(&self, consistency: Consistency) -> &'static str;
    /// At most `limit` keys in `[start, end)` in key order, as an array of
    /// `[key, value]` pairs. Only when [`Driver::supports_scan`] says so.
    fn scan(&self, start: &str, end: &str, limit: usize) -> impl Future<Output = Outcome> + Send {
        let _ = (start, end, limit);
        std::future::ready(Outcome::Failed(SCAN_UNSUPPORTED.into()))
    }
    fn supports_scan(&self) -> bool {
        false
    }
}

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// What a compare that fails reports, in every driver.
const COMPARE_FAILED: &str = "compare failed";

/// `read_registers`'s answer: each key with its value (None: absent).
fn registers<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v.map_or(Value::Null, text))).collect())
}
