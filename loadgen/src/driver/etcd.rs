//! etcd through its v3 gRPC KV API, with loadgen's own minimal proto
//! (`proto/etcd_kv.proto`).
//!
//! Mapping:
//! - get: Range of one key; `stale` reads are etcd's serializable reads
//!   (the member's local state), every other consistency is etcd's default
//!   linearizable read (lease and read_index have no etcd switch; follower
//!   is what etcd does anyway when the request lands on a follower, a
//!   ReadIndex round to the leader). The history names them as etcd does:
//!   `serializable`, `linearizable`.
//! - put, delete: Put, DeleteRange.
//! - cas: one Txn: if the key's value equals `expected` (or, for an absent
//!   key, its create revision is 0) then Put, else nothing: `succeeded`
//!   false is a definite failure.
//! - read_registers: one Txn with no compare and a Range per key, so every
//!   key is read at one revision (a read-only Txn is linearizable).
//! - write_if: one Txn: a compare per key as for cas, then a Put per key.
//! - append: a Put of a fresh key `<list>/<driver nonce>-<counter>` holding
//!   the value; read_list: a Range over `<list>/` sorted by create revision,
//!   so the list is in commit order and an append is one ordinary write.
//! - scan: a Range over `[start, end)` with a limit.
//!
//! Requests go round-robin over the endpoints (as etcd's client balancer
//! does), passing over a member that stopped answering: one that let a
//! request time out or refused a connection (for a while), or that has
//! kept a request waiting past half an election timeout (a frozen or
//! cut-off member; etcd's own balancer keeps sending it a share of the
//! requests, each waiting out its timeout). A request that could not even
//! connect is tried on the next member, since it certainly was not sent; a
//! read that times out or is refused is too (a read has no effect). A
//! write that times out is not: etcd has no sessions to make a retry apply
//! once, so its outcome is unknown.
//!
//! etcd does not tell clients its election timeout: the driver assumes
//! etcd's default (1 s) unless told ([`EtcdDriver::election_timeout`]; chaos
//! tells it what it started the members with), and
//! gives up on an attempt after twice that (a new leader is elected within
//! it), or after [`EtcdDriver::timeout`] if that is shorter.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::{COMPARE_FAILED, Driver, Outcome, registers, text};
use crate::workload::Consistency;

use crate::etcd_api as pb;
use pb::kv_client::KvClient;
use pb::{Compare, PutRequest, RangeRequest, RequestOp, compare, range_request, request_op};

/// Why a driver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad endpoint {endpoint:?}: {why}")]
    BadEndpoint { endpoint: String, why: String },
    #[error("no etcd endpoint answers: {0}")]
    Unreachable(String),
}

pub struct EtcdDriver {
    endpoints: Vec<(String, KvClient<Channel>)>,
    /// How each endpoint has been answering, by its index.
    health: Vec<Mutex<Health>>,
    next: AtomicUsize,
    next_request: AtomicU64,
    /// Makes list-entry keys of this driver unique among all drivers.
    nonce: u64,
    appended: AtomicU64,
    /// Give up on an attempt after this long at most (a write's outcome is
    /// then unknown).
    pub timeout: Duration,
    /// The cluster's election timeout (etcd's `--election-timeout`).
    pub election_timeout: Duration,
}

/// etcd's default `--election-timeout`.
const ETCD_DEFAULT_ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// What the driver has seen of one member lately.
#[derive(Debug, Default)]
struct Health {
    /// Requests in flight on it, by request number, with when each was sent.
    in_flight: BTreeMap<u64, Instant>,
    /// Passed over until then: it let a request time out or refused one.
    /// Kept once past, until it answers: on probation, one request at a time.
    suspect_until: Option<Instant>,
}

impl Health {
    /// Whether new requests may go to it at `now`: not suspected (one at a
    /// time once the suspicion runs out, until it answers), and no request
    /// of its older than `stall_after` unanswered.
    fn answering(&self, now: Instant, stall_after: Duration) -> bool {
        match self.suspect_until {
            Some(until) if now < until => false,
            Some(_) => self.in_flight.is_empty(),
            None => self.in_flight.values().next().is_none_or(|&sent| now.duration_since(sent) < stall_after),
        }
    }
}

/// One request in flight on a member, in its [`Health`] until dropped.
struct InFlight<'a> {
    health: &'a Mutex<Health>,
    number: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.health.lock().expect("not poisoned").in_flight.remove(&self.number);
    }
}

impl EtcdDriver {
    /// Connects to `host:port` endpoints and checks that at least one of
    /// them answers a read within `probe_timeout`; fails fast otherwise.
    pub async fn connect(endpoints: &[String], probe_timeout: Duration) -> Result<EtcdDriver, ConnectError> {
        let mut clients = Vec::new();
        for ep in endpoints {
            let bad = |why: String| ConnectError::BadEndpoint { endpoint: ep.clone(), why };
            if ep.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
                return Err(bad("expected HOST:PORT".into()));
            }
            let endpoint = Endpoint::from_shared(format!("http://{ep}"))
                .map_err(|e| bad(e.to_string()))?
                .connect_timeout(probe_timeout);
            // The same transport as raft-node's client (node::unvectored).
            let channel = node::unvectored::lazy_channel(endpoint);
            clients.push((ep.clone(), KvClient::new(channel)));
        }
        if clients.is_empty() {
            return Err(ConnectError::BadEndpoint { endpoint: String::new(), why: "no endpoints given".into() });
        }
        let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
            as u64
            ^ u64::from(std::process::id());
        let driver = EtcdDriver {
            health: clients.iter().map(|_| Mutex::default()).collect(),
            endpoints: clients,
            next: AtomicUsize::new(0),
            next_request: AtomicU64::new(0),
            nonce,
            appended: AtomicU64::new(0),
            timeout: Duration::from_secs(5),
            election_timeout: ETCD_DEFAULT_ELECTION_TIMEOUT,
        };
        driver.probe(probe_timeout).await?;
        Ok(driver)
    }

    async fn probe(&self, timeout: Duration) -> Result<(), ConnectError> {
        let mut errors = Vec::new();
        for (ep, client) in &self.endpoints {
            let request = RangeRequest { key: Bytes::from_static(b"\0loadgen-probe"), ..Default::default() };
            match tokio::time::timeout(timeout, client.clone().range(request)).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(status)) => errors.push(format!("{ep}: {}", describe(&status))),
                Err(_) => errors.push(format!("{ep}: no answer within {timeout:?}")),
            }
        }
        Err(ConnectError::Unreachable(errors.join("; ")))
    }

    fn attempt_timeout(&self) -> Duration {
        self.timeout.min(2 * self.election_timeout)
    }

    /// The endpoints in the order to try them: round-robin from the next
    /// in turn, those answering first (see [`Health::answering`]).
    fn order(&self) -> Vec<usize> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let (now, stall_after) = (Instant::now(), self.election_timeout / 2);
        let mut order: Vec<usize> = (0..self.endpoints.len()).map(|i| (start + i) % self.endpoints.len()).collect();
        order.sort_by_key(|&i| !self.health[i].lock().expect("not poisoned").answering(now, stall_after));
        order
    }

    fn suspect(&self, endpoint: usize) {
        let until = Instant::now() + self.attempt_timeout();
        self.health[endpoint].lock().expect("not poisoned").suspect_until = Some(until);
    }

    fn in_flight(&self, endpoint: usize) -> InFlight<'_> {
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        let health = &self.health[endpoint];
        health.lock().expect("not poisoned").in_flight.insert(number, Instant::now());
        InFlight { health, number }
    }

    /// Runs `call` on the members in [`EtcdDriver::order`], moving on while
    /// connections are refused, and for a `read` also past a timeout or a
    /// refusal; anything else is the caller's to judge.
    async fn call<T, F, Fut>(&self, read: bool, call: F) -> Result<T, Failure>
    where
        F: Fn(KvClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let timeout = self.attempt_timeout();
        let mut refused = Vec::new();
        let mut last = None;
        for i in self.order() {
            let (ep, client) = &self.endpoints[i];
            let _in_flight = self.in_flight(i);
            let failure = match tokio::time::timeout(timeout, call(client.clone())).await {
                Ok(Ok(response)) => {
                    self.health[i].lock().expect("not poisoned").suspect_until = None;
                    return Ok(response.into_inner());
                }
                Ok(Err(status)) if never_sent(&status) => {
                    self.suspect(i);
                    refused.push(format!("{ep}: {}", describe(&status)));
                    continue;
                }
                Ok(Err(status)) => Failure::Status(status),
                Err(_) => {
                    self.suspect(i);
                    Failure::Timeout(timeout)
                }
            };
            if !read {
                return Err(failure);
            }
            last = Some(failure);
        }
        Err(last.unwrap_or_else(|| Failure::NotSent(refused.join("; "))))
    }

    fn range(&self, key: Bytes, range_end: Bytes, limit: i64, by_create: bool, serializable: bool) -> RangeRequest {
        let (sort_order, sort_target) = if by_create {
            (range_request::SortOrder::Ascend, range_request::SortTarget::Create)
        } else {
            (range_request::SortOrder::None, range_request::SortTarget::Key)
        };
        RangeRequest {
            key,
            range_end,
            limit,
            sort_order: sort_order as i32,
            sort_target: sort_target as i32,
            serializable,
            revision: 0,
        }
    }

    /// A Txn; `read` when it only reads (see [`EtcdDriver::call`]).
    async fn txn(&self, read: bool, request: pb::TxnRequest) -> Result<pb::TxnResponse, Failure> {
        self.call(read, |mut c| {
            let request = request.clone();
            async move { c.txn(request).await }
        })
        .await
    }

    async fn read(&self, request: RangeRequest) -> Result<Vec<pb::KeyValue>, Outcome> {
        self.call(true, |mut c| {
            let request = request.clone();
            async move { c.range(request).await }
        })
        .await
        .map(|r| r.kvs)
        .map_err(|f| f.for_read())
    }
}

enum Failure {
    /// Every endpoint refused the connection: nothing was sent.
    NotSent(String),
    Timeout(Duration),
    Status(Status),
}

impl Failure {
    fn for_read(self) -> Outcome {
        Outcome::Failed(self.describe())
    }

    /// Only a refusal etcd gives before proposing, or a request never sent,
    /// is certain not to have applied; anything else may have.
    fn for_write(self) -> Outcome {
        match &self {
            Failure::NotSent(_) => Outcome::Failed(self.describe()),
            Failure::Status(s) if matches!(s.code(), Code::InvalidArgument | Code::PermissionDenied) => {
                Outcome::Failed(self.describe())
            }
            _ => Outcome::Unknown(self.describe()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Failure::NotSent(why) => format!("not sent: {why}"),
            Failure::Timeout(t) => format!("timeout after {t:?}"),
            Failure::Status(s) => describe(s),
        }
    }
}

/// The status with the innermost error under it ("tcp connect error" says
/// less than the "Connection refused" beneath it).
fn describe(status: &Status) -> String {
    let mut root = None;
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        root = Some(e);
        source = e.source();
    }
    match root {
        Some(root) => format!("{:?}: {}: {root}", status.code(), status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// A connection refused (or a bad address) before any byte of the request
/// was written: tonic reports it as Unavailable with the io error inside.
fn never_sent(status: &Status) -> bool {
    if status.code() != Code::Unavailable {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::HostUnreachable
            );
        }
        source = e.source();
    }
    false
}

/// The smallest key above every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end.into();
        }
    }
    // Every byte was 0xff: etcd's "\0" means "to the end of the key space".
    Bytes::from_static(b"\0")
}

fn written<T>(result: Result<T, Failure>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok(Value::Null),
        Err(f) => f.for_write(),
    }
}

impl Driver for EtcdDriver {
    async fn get(&self, key: &str, consistency: Consistency) -> Outcome {
        let serializable = serializable(consistency);
        let request = self.range(Bytes::copy_from_slice(key.as_bytes()), Bytes::new(), 0, false, serializable);
        match self.read(request).await {
            Ok(kvs) => Outcome::Ok(kvs.first().map_or(Value::Null, |kv| text(&kv.value))),
            Err(outcome) => outcome,
        }
    }

    async fn put(&self, key: &str, value: Bytes) -> Outcome {
        let request = PutRequest { key: Bytes::copy_from_slice(key.as_bytes()), value };
        written(
            self.call(false, |mut c| {
                let request = request.clone();
                async move { c.put(request).await }
            })
            .await,
        )
    }

    async fn delete(&self, key: &str) -> Outcome {
        let request = pb::DeleteRangeRequest { key: Bytes::copy_from_slice(key.as_bytes()) };
        written(
            self.call(false, |mut c| {
                let request = request.clone();
                async move { c.delete_range(request).await }
            })
            .await,
        )
    }

    async fn cas(&self, key: &str, expected: Option<Bytes>, new: Bytes) -> Outcome {
        self.write_if(&[(key.to_string(), expected)], &[(key.to_string(), new)]).await
    }

    async fn read_registers(&self, keys: &[String]) -> Outcome {
        let ranges = keys.iter().map(|key| {
            let range = self.range(Bytes::copy_from_slice(key.as_bytes()), Bytes::new(), 0, false, false);
            RequestOp { request: Some(request_op::Request::RequestRange(range)) }
        });
        let request = pb::TxnRequest { compare: Vec::new(), success: ranges.collect(), failure: Vec::new() };
        let response = match self.txn(true, request).await {
            Ok(r) => r,
            Err(f) => return f.for_read(),
        };
        let values: Vec<Option<Bytes>> = response
            .responses
            .into_iter()
            .map(|r| match r.response {
                Some(pb::response_op::Response::ResponseRange(range)) => {
                    range.kvs.into_iter().next().map(|kv| kv.value)
                }
                _ => None,
            })
            .collect();
        if values.len() != keys.len() {
            return Outcome::Failed(format!("a Txn of {} ranges answered {}", keys.len(), values.len()));
        }
        Outcome::Ok(registers(keys.iter().map(String::as_str).zip(values.iter().map(Option::as_deref))))
    }

    async fn write_if(&self, compares: &[(String, Option<Bytes>)], puts: &[(String, Bytes)]) -> Outcome {
        let request = pb::TxnRequest {
            compare: compares.iter().map(|(key, expected)| holds(key, expected.clone())).collect(),
            success: puts
                .iter()
                .map(|(key, value)| {
                    let put = PutRequest { key: Bytes::copy_from_slice(key.as_bytes()), value: value.clone() };
                    RequestOp { request: Some(request_op::Request::RequestPut(put)) }
                })
                .collect(),
            failure: Vec::new(),
        };
        match self.txn(false, request).await {
            Ok(r) if r.succeeded => Outcome::Ok(Value::Null),
            Ok(_) => Outcome::Failed(COMPARE_FAILED.into()),
            Err(f) => f.for_write(),
        }
    }

    async fn append(&self, key: &str, value: Bytes) -> Outcome {
        let n = self.appended.fetch_add(1, Ordering::Relaxed);
        let entry = format!("{key}/{:016x}-{n:08}", self.nonce);
        self.put(&entry, value).await
    }

    async fn read_list(&self, key: &str, consistency: Consistency) -> Outcome {
        let prefix = format!("{key}/").into_bytes();
        let end = prefix_end(&prefix);
        match self.read(self.range(prefix.into(), end, 0, true, serializable(consistency))).await {
            Ok(kvs) if kvs.is_empty() => Outcome::Ok(Value::Null),
            Ok(kvs) => Outcome::Ok(Value::Array(kvs.iter().map(|kv| text(&kv.value)).collect())),
            Err(outcome) => outcome,
        }
    }

    async fn scan(&self, start: &str, end: &str, limit: usize) -> Outcome {
        let request = self.range(
            Bytes::copy_from_slice(start.as_bytes()),
            Bytes::copy_from_slice(end.as_bytes()),
            limit as i64,
            false,
            false,
        );
        match self.read(request).await {
            Ok(kvs) => Outcome::Ok(Value::Array(
                kvs.iter().map(|kv| Value::Array(vec![text(&kv.key), text(&kv.value)])).collect(),
            )),
            Err(outcome) => outcome,
        }
    }

    fn supports_scan(&self) -> bool {
        true
    }

    fn read_kind(&self, consistency: Consistency) -> &'static str {
        if serializable(consistency) { "serializable" } else { "linearizable" }
    }
}

/// The compare that holds when `key` has the value `expected`, or, for
/// None, when it is absent (its create revision is 0).
fn holds(key: &str, expected: Option<Bytes>) -> Compare {
    let key = Bytes::copy_from_slice(key.as_bytes());
    let (target, union) = match expected {
        Some(value) => (compare::CompareTarget::Value, compare::TargetUnion::Value(value)),
        None => (compare::CompareTarget::Create, compare::TargetUnion::CreateRevision(0)),
    };
    Compare { result: compare::CompareResult::Equal as i32, target: target as i32, key, target_union: Some(union) }
}

/// Only `stale` is served from the member's own state; see the mapping above.
fn serializable(consistency: Consistency) -> bool {
    consistency == Consistency::Stale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_reads_are_served_serializable() {
        assert!(serializable(Consistency::Stale));
        for c in [Consistency::Lease, Consistency::ReadIndex, Consistency::Follower] {
            assert!(!serializable(c), "{c:?} is served linearizable");
        }
    }

    #[test]
    fn a_member_is_passed_over_while_suspected_or_keeping_a_request_waiting() {
        let ms = Duration::from_millis;
        let now = Instant::now() + ms(1000);
        let stall_after = ms(250);
        let mut health = Health::default();
        assert!(health.answering(now, stall_after));
        health.in_flight.insert(1, now - ms(100));
        assert!(health.answering(now, stall_after), "in flight for less than the stall");
        health.in_flight.insert(0, now - ms(300));
        assert!(!health.answering(now, stall_after), "its oldest request is stalled");
        health.in_flight.remove(&0);
        health.suspect_until = Some(now + ms(1));
        assert!(!health.answering(now, stall_after));
        assert!(!health.answering(now + ms(1), stall_after), "on probation, a request already in flight");
        health.in_flight.clear();
        assert!(health.answering(now + ms(1), stall_after), "on probation, one request may go");
    }

    #[test]
    fn a_prefix_ends_just_above_its_last_key() {
        assert_eq!(&prefix_end(b"l7/")[..], b"l70");
        assert_eq!(&prefix_end(b"a\xff")[..], b"b");
        assert_eq!(&prefix_end(b"\xff")[..], b"\0");
    }

    #[tokio::test]
    async fn an_unreachable_cluster_fails_fast_with_every_endpoint_named() {
        // Bind then drop: nothing listens on these ports now.
        let ports: Vec<u16> =
            (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
        let endpoints: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let err = EtcdDriver::connect(&endpoints, Duration::from_secs(2)).await.err().unwrap();
        let message = err.to_string();
        assert!(matches!(err, ConnectError::Unreachable(_)), "{message}");
        assert!(endpoints.iter().all(|e| message.contains(e.as_str())), "{message}");
        assert!(message.contains("refused"), "a refusal, not a timeout: {message}");
    }

    #[tokio::test]
    async fn a_malformed_endpoint_is_refused_before_connecting() {
        let err = EtcdDriver::connect(&["localhost".into()], Duration::from_secs(1)).await;
        assert!(matches!(err, Err(ConnectError::BadEndpoint { .. })));
    }
}
