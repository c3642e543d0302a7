//! A client that finds the leader and keeps talking to it.
//!
//! It caches the leader, follows NOT_LEADER redirects, retries what can be
//! retried with backoff, and carries a (client_id, seq) session on writes so
//! a retried write applies once. An error says whether the write certainly
//! did not apply ([`ClientError::Failed`]) or may have
//! ([`ClientError::Ambiguous`]): histories need the difference.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::proto::admin::{self as apb, admin_client::AdminClient};
use crate::proto::kv::{self as kpb, Consistency, kv_client::KvClient};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The operation certainly did not take effect.
    #[error("failed: {0}")]
    Failed(String),
    /// A write that may or may not have taken effect.
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
}

pub struct Client {
    endpoints: Vec<String>,
    leader: Mutex<Option<String>>,
    channels: Mutex<HashMap<String, Channel>>,
    token: Option<String>,
    client_id: u64,
    seq: AtomicU64,
    /// Seqs of writes still waiting for an answer.
    outstanding: Mutex<std::collections::BTreeSet<u64>>,
    /// Give up on an operation after this long.
    pub deadline: Duration,
    /// Each attempt's timeout, in ms: 2 s until a status answer tells the
    /// cluster's election timeout, then twice that (a new leader is elected
    /// within it), unless set by hand.
    attempt_timeout_ms: AtomicU64,
    attempt_timeout_set: std::sync::atomic::AtomicBool,
    attempt_timeout_learned: std::sync::atomic::AtomicBool,
    /// Nodes that let an attempt time out (frozen, cut off), skipped until
    /// the instant given, even when a follower still names one as leader.
    suspects: Mutex<HashMap<String, Instant>>,
}

/// An attempt's timeout before the cluster's election timeout is known,
/// and the most any answer time may take before a call gives up on it.
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a failed attempt means for the next one.
enum Attempt {
    Redirect(Option<String>),
    /// Try again (elsewhere, after a pause); `sent` when the request may have
    /// reached a leader and been proposed.
    Retry {
        sent: bool,
        why: String,
    },
    Fatal(String),
}

fn classify(status: &Status) -> Attempt {
    let not_applied = status.metadata().get("x-raft-outcome").is_some_and(|v| v == "not-applied");
    match status.code() {
        Code::FailedPrecondition => {
            let leader = status.metadata().get("x-raft-leader").and_then(|v| v.to_str().ok()).map(str::to_owned);
            Attempt::Redirect(leader)
        }
        Code::InvalidArgument | Code::PermissionDenied | Code::Unimplemented => Attempt::Fatal(status.message().into()),
        Code::Unavailable if not_applied => Attempt::Retry { sent: false, why: status.message().into() },
        _ => Attempt::Retry { sent: true, why: format!("{:?}: {}", status.code(), status.message()) },
    }
}

impl Client {
    pub fn new(endpoints: Vec<String>, token: Option<String>) -> Client {
        let client_id = crate::server::wall_ns() ^ (u64::from(std::process::id()) << 32) | 1;
        Client {
            endpoints,
            leader: Mutex::new(None),
            channels: Mutex::new(HashMap::new()),
            token,
            client_id,
            seq: AtomicU64::new(0),
            outstanding: Mutex::new(Default::default()),
            deadline: Duration::from_secs(10),
            attempt_timeout_ms: AtomicU64::new(DEFAULT_ATTEMPT_TIMEOUT.as_millis() as u64),
            attempt_timeout_set: Default::default(),
            attempt_timeout_learned: Default::default(),
            suspects: Mutex::new(HashMap::new()),
        }
    }

    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms.load(Ordering::Relaxed))
    }

    /// Fixes each attempt's timeout (no longer learned from the cluster).
    pub fn set_attempt_timeout(&self, timeout: Duration) {
        self.attempt_timeout_set.store(true, Ordering::Relaxed);
        self.attempt_timeout_ms.store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// Follows the election timeout a status answer tells, unless the
    /// attempt timeout was set by hand.
    fn learn_timeouts(&self, status: &apb::StatusResponse) {
        if status.election_timeout_ms == 0 || self.attempt_timeout_set.load(Ordering::Relaxed) {
            return;
        }
        let ms = (2 * status.election_timeout_ms).clamp(50, DEFAULT_ATTEMPT_TIMEOUT.as_millis() as u64);
        self.attempt_timeout_ms.store(ms, Ordering::Relaxed);
        self.attempt_timeout_learned.store(true, Ordering::Relaxed);
    }

    /// Before the first request: learn the election timeout from `target`'s
    /// status (a failure leaves the default, to be learned next time).
    async fn learn_timeouts_from(&self, target: &str) {
        if self.attempt_timeout_set.load(Ordering::Relaxed) || self.attempt_timeout_learned.load(Ordering::Relaxed) {
            return;
        }
        let _ = self.status(target).await;
    }

    fn is_suspect(&self, address: &str) -> bool {
        let mut suspects = self.suspects.lock().expect("not poisoned");
        match suspects.get(address) {
            Some(until) if Instant::now() < *until => true,
            Some(_) => {
                suspects.remove(address);
                false
            }
            None => false,
        }
    }

    /// The next endpoint in turn, passing over suspects unless all are.
    fn next_endpoint(&self, turn: &mut usize) -> String {
        for _ in 0..self.endpoints.len() {
            *turn += 1;
            let candidate = &self.endpoints[*turn % self.endpoints.len()];
            if !self.is_suspect(candidate) {
                return candidate.clone();
            }
        }
        *turn += 1;
        self.endpoints[*turn % self.endpoints.len()].clone()
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    fn channel(&self, address: &str) -> Result<Channel, ClientError> {
        let mut channels = self.channels.lock().expect("not poisoned");
        if let Some(c) = channels.get(address) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| ClientError::Failed(format!("bad endpoint {address:?}: {e}")))?
            .connect_timeout(Duration::from_secs(1))
            .timeout(DEFAULT_ATTEMPT_TIMEOUT);
        let channel = endpoint.connect_lazy();
        channels.insert(address.to_string(), channel.clone());
        Ok(channel)
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        if let Some(token) = &self.token
            && let Ok(v) = format!("Bearer {token}").parse()
        {
            r.metadata_mut().insert("authorization", v);
        }
        r
    }

    /// Runs `call` against the leader, following redirects and retrying,
    /// until it succeeds, fails for good, or the deadline passes.
    async fn with_leader<T, F, Fut>(&self, write: bool, call: F) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let start = Instant::now();
        let mut next_endpoint = 0;
        let mut backoff = Duration::from_millis(20);
        let mut maybe_sent = false;
        let mut last_error = String::from("no endpoint answered");
        while start.elapsed() < self.deadline {
            let cached = self.leader.lock().expect("not poisoned").clone().filter(|l| !self.is_suspect(l));
            let target = cached.unwrap_or_else(|| self.next_endpoint(&mut next_endpoint));
            self.learn_timeouts_from(&target).await;
            let timeout = self.attempt_timeout();
            let status = match tokio::time::timeout(timeout, call(self.channel(&target)?)).await {
                Ok(Ok(v)) => {
                    *self.leader.lock().expect("not poisoned") = Some(target);
                    return Ok(v);
                }
                Ok(Err(status)) => status,
                Err(_) => {
                    // A frozen or cut-off node: try the others at once, and
                    // keep away from it for a while even if a follower that
                    // has not noticed yet still names it as the leader.
                    maybe_sent |= write;
                    last_error = format!("{target}: no answer within {timeout:?}");
                    self.suspects.lock().expect("not poisoned").insert(target, Instant::now() + timeout);
                    *self.leader.lock().expect("not poisoned") = None;
                    continue;
                }
            };
            match classify(&status) {
                Attempt::Redirect(leader) => {
                    last_error = format!("{target} is not the leader");
                    let leader = leader.filter(|l| !self.is_suspect(l));
                    let known = leader.is_some();
                    *self.leader.lock().expect("not poisoned") = leader;
                    if known {
                        continue;
                    }
                }
                Attempt::Retry { sent, why } => {
                    maybe_sent |= sent;
                    last_error = format!("{target}: {why}");
                    *self.leader.lock().expect("not poisoned") = None;
                }
                Attempt::Fatal(why) => return Err(ClientError::Failed(why)),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        if write && maybe_sent {
            Err(ClientError::Ambiguous(format!("gave up after {:?}: {last_error}", self.deadline)))
        } else {
            Err(ClientError::Failed(format!("gave up after {:?}: {last_error}", self.deadline)))
        }
    }

    /// A new session seq; the returned guard marks it answered when dropped.
    fn session(&self) -> (kpb::Session, Outstanding<'_>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut outstanding = self.outstanding.lock().expect("not poisoned");
        outstanding.insert(seq);
        let first_outstanding = *outstanding.first().expect("just inserted");
        (kpb::Session { client_id: self.client_id, seq, first_outstanding }, Outstanding { client: self, seq })
    }

    pub async fn put(&self, key: &str, value: Bytes) -> Result<u64, ClientError> {
        let (session, _pending) = self.session();
        let r = kpb::PutRequest { session: Some(session), key: key.into(), value };
        let resp = self.with_leader(true, |c| {
            let req = self.request(r.clone());
            async move { KvClient::new(c).put(req).await }
        });
        Ok(resp.await?.into_inner().index)
    }

    pub async fn delete(&self, key: &str) -> Result<u64, ClientError> {
        let (session, _pending) = self.session();
        let r = kpb::DeleteRequest { session: Some(session), key: key.into() };
        let resp = self.with_leader(true, |c| {
            let req = self.request(r.clone());
            async move { KvClient::new(c).delete(req).await }
        });
        Ok(resp.await?.into_inner().index)
    }

    pub async fn append(&self, key: &str, value: Bytes) -> Result<u64, ClientError> {
        let (session, _pending) = self.session();
        let r = kpb::AppendRequest { session: Some(session), key: key.into(), value };
        let resp = self.with_leader(true, |c| {
            let req = self.request(r.clone());
            async move { KvClient::new(c).append(req).await }
        });
        Ok(resp.await?.into_inner().index)
    }

    /// Compare-and-set; `expected` None means "the key is absent".
    pub async fn cas(&self, key: &str, expected: Option<Bytes>, value: Bytes) -> Result<kpb::CasResponse, ClientError> {
        let (session, _pending) = self.session();
        let r = kpb::CasRequest { session: Some(session), key: key.into(), expected, value };
        let resp = self.with_leader(true, |c| {
            let req = self.request(r.clone());
            async move { KvClient::new(c).cas(req).await }
        });
        Ok(resp.await?.into_inner())
    }

    /// A transaction through the log (see kv.proto): if every compare
    /// holds, every put; then every read; all at one index. It carries a
    /// session as any write does, so a retry applies once and gets the
    /// first answer, its reads included.
    pub async fn txn(
        &self,
        compares: Vec<kpb::TxnCompare>,
        puts: Vec<kpb::TxnPut>,
        reads: Vec<String>,
    ) -> Result<kpb::TxnResponse, ClientError> {
        let (session, _pending) = self.session();
        let r = kpb::TxnRequest { session: Some(session), compares, puts, reads };
        let resp = self.with_leader(true, |c| {
            let req = self.request(r.clone());
            async move { KvClient::new(c).txn(req).await }
        });
        Ok(resp.await?.into_inner())
    }

    /// Reads a register. `Follower` and `Stale` reads go to the node given
    /// (the first endpoint when None) instead of the leader.
    pub async fn get(&self, key: &str, consistency: Consistency) -> Result<kpb::GetResponse, ClientError> {
        let r = kpb::GetRequest { key: key.into(), consistency: consistency as i32 };
        if matches!(consistency, Consistency::Follower | Consistency::Stale) {
            let channel = self.channel(&self.endpoints[0])?;
            let timeout = self.attempt_timeout();
            return match tokio::time::timeout(timeout, KvClient::new(channel).get(self.request(r))).await {
                Ok(answer) => answer.map(|r| r.into_inner()).map_err(|s| ClientError::Failed(s.message().into())),
                Err(_) => Err(ClientError::Failed(format!("{}: no answer within {timeout:?}", self.endpoints[0]))),
            };
        }
        let resp = self.with_leader(false, |c| {
            let req = self.request(r.clone());
            async move { KvClient::new(c).get(req).await }
        });
        Ok(resp.await?.into_inner())
    }

    pub async fn read_list(&self, key: &str, consistency: Consistency) -> Result<kpb::ReadListResponse, ClientError> {
        let r = kpb::ReadListRequest { key: key.into(), consistency: consistency as i32 };
        let resp = self.with_leader(false, |c| {
            let req = self.request(r.clone());
            async move { KvClient::new(c).read_list(req).await }
        });
        Ok(resp.await?.into_inner())
    }

    /// Status of one node (not necessarily the leader).
    pub async fn status(&self, address: &str) -> Result<apb::StatusResponse, ClientError> {
        let status = AdminClient::new(self.channel(address)?)
            .status(self.request(apb::StatusRequest {}))
            .await
            .map(|r| r.into_inner())
            .map_err(|s| ClientError::Failed(format!("{address}: {}", s.message())))?;
        self.learn_timeouts(&status);
        Ok(status)
    }

    pub async fn digest(&self, address: &str) -> Result<apb::DigestResponse, ClientError> {
        AdminClient::new(self.channel(address)?)
            .state_digest(self.request(apb::StatusRequest {}))
            .await
            .map(|r| r.into_inner())
            .map_err(|s| ClientError::Failed(format!("{address}: {}", s.message())))
    }

    /// The node's stream of role changes.
    pub async fn events(&self, address: &str) -> Result<tonic::Streaming<apb::NodeEvent>, ClientError> {
        AdminClient::new(self.channel(address)?)
            .events(self.request(apb::StatusRequest {}))
            .await
            .map(|r| r.into_inner())
            .map_err(|s| ClientError::Failed(format!("{address}: {}", s.message())))
    }

    /// Sets a node's test fault hooks (see admin.proto).
    pub async fn set_faults(
        &self,
        address: &str,
        drop_outgoing_to: Vec<u64>,
        drop_incoming_from: Vec<u64>,
        clock_skew_ppm: i64,
        disk_delay_ms: u64,
    ) -> Result<(), ClientError> {
        let r = apb::FaultsRequest { drop_outgoing_to, drop_incoming_from, clock_skew_ppm, disk_delay_ms };
        AdminClient::new(self.channel(address)?)
            .set_faults(self.request(r))
            .await
            .map(|_| ())
            .map_err(|s| ClientError::Failed(format!("{address}: {}", s.message())))
    }

    /// Sets one of a node's failpoints (see `node::failpoints`); `off` clears it.
    pub async fn set_failpoint(&self, address: &str, name: &str, actions: &str) -> Result<(), ClientError> {
        let r = apb::FailpointRequest { name: name.into(), actions: actions.into() };
        AdminClient::new(self.channel(address)?)
            .set_failpoint(self.request(r))
            .await
            .map(|_| ())
            .map_err(|s| ClientError::Failed(format!("{address}: {}", s.message())))
    }

    pub async fn add_learner(&self, id: u64, address: &str) -> Result<u64, ClientError> {
        let r = apb::AddLearnerRequest { id, address: address.into() };
        let resp = self.with_leader(true, |c| {
            let req = self.request(r.clone());
            async move { AdminClient::new(c).add_learner(req).await }
        });
        Ok(resp.await?.into_inner().index)
    }

    pub async fn promote(&self, id: u64) -> Result<u64, ClientError> {
        self.node_change(id, |c, r| async move { AdminClient::new(c).promote(r).await }).await
    }

    pub async fn remove(&self, id: u64) -> Result<u64, ClientError> {
        self.node_change(id, |c, r| async move { AdminClient::new(c).remove(r).await }).await
    }

    pub async fn transfer_leader(&self, id: u64) -> Result<u64, ClientError> {
        self.node_change(id, |c, r| async move { AdminClient::new(c).transfer_leader(r).await }).await
    }

    async fn node_change<F, Fut>(&self, id: u64, call: F) -> Result<u64, ClientError>
    where
        F: Fn(Channel, Request<apb::NodeRequest>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<apb::ChangeResponse>, Status>>,
    {
        let resp = self.with_leader(true, |c| call(c, self.request(apb::NodeRequest { id })));
        Ok(resp.await?.into_inner().index)
    }
}

/// A write in flight; dropping it (answered or given up) lets the nodes
/// forget its answer once every earlier one is answered too.
struct Outstanding<'a> {
    client: &'a Client,
    seq: u64,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.client.outstanding.lock().expect("not poisoned").remove(&self.seq);
    }
}
