//! A client that finds the leader and keeps talking to it.
//!
//! It caches the leader, follows NOT_LEADER redirects, retries what can be
//! retried, and carries a (client_id, seq) session on writes so a retried
//! write applies once. When the leader it believes in fails it (no leader
//! hint, a refusal, no answer), it asks every member's status at once and
//! goes to the leader of the highest term; a request the leader leaves
//! unanswered for half an election timeout has the members watched, and
//! moves as soon as they elect another (a frozen or cut-off leader holds
//! requests about as long as the election takes, not a fixed timeout). An error says whether the write certainly
//! did not apply ([`ClientError::Failed`]) or may have
//! ([`ClientError::Ambiguous`]): histories need the difference.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::proto::admin::{self as apb, admin_client::AdminClient};
use crate::proto::kv::{self as kpb, Consistency, kv_client::KvClient};

mod leader;

use leader::{Known, Report, choose, settled};

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
    leader: Mutex<Option<Known>>,
    channels: Mutex<HashMap<String, Channel>>,
    token: Option<String>,
    client_id: u64,
    seq: AtomicU64,
    /// Seqs of writes still waiting for an answer.
    outstanding: Mutex<std::collections::BTreeSet<u64>>,
    /// Give up on an operation after this long.
    pub deadline: Duration,
    timing: Timing,
    /// Nodes that let an attempt time out (frozen, cut off), could not be
    /// reached, or were found behind a newer leader: passed over until the
    /// instant given, even when a follower still names one as leader.
    suspects: Mutex<HashMap<String, Instant>>,
    /// Members keeping a request waiting past [`Timing::watch_after`], by
    /// how many: a round of status calls does not wait for their answers.
    stalled: Mutex<HashMap<String, usize>>,
    /// One discovery at a time (see [`Client::discover`]); when the last
    /// one started.
    discovery: tokio::sync::Mutex<Option<Instant>>,
}

/// The election timeout assumed until a status answer tells the cluster's:
/// it makes an attempt's timeout 2 s.
const DEFAULT_ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// The most an attempt may wait, and an admin call on one member.
const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the client waits for what, all following the cluster's
/// election timeout: once a leader stops being heard from, its followers
/// elect another within twice that.
struct Timing {
    /// Learned from a status answer; 0 until then.
    election_timeout_ms: AtomicU64,
    /// Set by hand; 0 to follow the election timeout.
    attempt_timeout_ms: AtomicU64,
}

impl Timing {
    fn election_timeout(&self) -> Duration {
        match self.election_timeout_ms.load(Ordering::Relaxed) {
            0 => DEFAULT_ELECTION_TIMEOUT,
            ms => Duration::from_millis(ms),
        }
    }

    /// Each attempt's timeout: twice the election timeout (a new leader is
    /// elected within it), unless set by hand.
    fn attempt(&self) -> Duration {
        match self.attempt_timeout_ms.load(Ordering::Relaxed) {
            0 => (2 * self.election_timeout()).clamp(Duration::from_millis(50), MAX_ATTEMPT_TIMEOUT),
            ms => Duration::from_millis(ms),
        }
    }

    /// An attempt unanswered for this long starts watching the members for
    /// a newer leader: no healthy leader keeps a request that long, and no
    /// new one is elected sooner than an election timeout.
    fn watch_after(&self) -> Duration {
        self.election_timeout() / 2
    }

    /// Between rounds of status calls while looking for a leader, and
    /// before trying again after a refusal that may pass (backpressure, a
    /// transfer under way).
    fn poll_interval(&self) -> Duration {
        (self.election_timeout() / 20).clamp(Duration::from_millis(2), Duration::from_millis(50))
    }

    /// How long a round of status calls waits for a member's answer (a
    /// round that has what it needs does not wait for the rest).
    fn status_wait(&self) -> Duration {
        self.election_timeout()
    }
}

/// Why an attempt failed, for the next one.
enum Failure {
    Redirect(Option<String>),
    /// Try again after a pause; `sent` when the request may have reached a
    /// leader and been proposed, `unreachable` when the node itself did not
    /// answer (a transport error).
    Retry {
        sent: bool,
        unreachable: bool,
        why: String,
    },
    Fatal(String),
}

fn classify(status: &Status) -> Failure {
    let not_applied = status.metadata().get("x-raft-outcome").is_some_and(|v| v == "not-applied");
    match status.code() {
        Code::FailedPrecondition => {
            let leader = status.metadata().get("x-raft-leader").and_then(|v| v.to_str().ok()).map(str::to_owned);
            Failure::Redirect(leader)
        }
        Code::InvalidArgument | Code::PermissionDenied | Code::Unimplemented => Failure::Fatal(status.message().into()),
        Code::Unavailable if not_applied => {
            Failure::Retry { sent: false, unreachable: false, why: status.message().into() }
        }
        code => Failure::Retry {
            sent: true,
            unreachable: code == Code::Unavailable,
            why: format!("{code:?}: {}", status.message()),
        },
    }
}

/// How one attempt on the believed leader ended.
enum Attempt<T> {
    Answered(Result<T, Status>),
    TimedOut(Duration),
    /// The members elected another leader while it was waiting.
    Superseded(Known),
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
            timing: Timing { election_timeout_ms: AtomicU64::new(0), attempt_timeout_ms: AtomicU64::new(0) },
            suspects: Mutex::new(HashMap::new()),
            stalled: Mutex::new(HashMap::new()),
            discovery: tokio::sync::Mutex::new(None),
        }
    }

    /// Each attempt's timeout: 2 s until a status answer tells the
    /// cluster's election timeout, then twice that, unless set by hand.
    pub fn attempt_timeout(&self) -> Duration {
        self.timing.attempt()
    }

    /// Fixes each attempt's timeout (no longer learned from the cluster).
    /// A newer leader is still looked for while an attempt waits.
    pub fn set_attempt_timeout(&self, timeout: Duration) {
        self.timing.attempt_timeout_ms.store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// The address the client currently sends leader requests to, if any.
    pub fn leader(&self) -> Option<String> {
        self.leader.lock().expect("not poisoned").as_ref().map(|k| k.address.clone())
    }

    /// Follows the election timeout a status answer tells.
    fn learn_timeouts(&self, status: &apb::StatusResponse) {
        if status.election_timeout_ms > 0 {
            self.timing.election_timeout_ms.store(status.election_timeout_ms, Ordering::Relaxed);
        }
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

    /// It answered: it is alive, whatever made it a suspect.
    fn unsuspect(&self, address: &str) {
        self.suspects.lock().expect("not poisoned").remove(address);
    }

    /// Passes over `address` for an attempt timeout.
    fn suspect(&self, address: &str) {
        let until = Instant::now() + self.timing.attempt();
        self.suspects.lock().expect("not poisoned").insert(address.to_string(), until);
    }

    fn stalled_on(&self, address: &str) -> bool {
        self.stalled.lock().expect("not poisoned").contains_key(address)
    }

    /// The leader believed in, unless suspected.
    fn current_leader(&self) -> Option<Known> {
        let known = self.leader.lock().expect("not poisoned").clone();
        known.filter(|k| !self.is_suspect(&k.address))
    }

    fn believe(&self, known: Known) {
        *self.leader.lock().expect("not poisoned") = Some(known);
    }

    /// Stops believing `address` leads.
    fn forget(&self, address: &str) {
        let mut leader = self.leader.lock().expect("not poisoned");
        if leader.as_ref().is_some_and(|k| k.address == address) {
            *leader = None;
        }
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    fn channel(&self, address: &str) -> Result<Channel, ClientError> {
        let mut channels = self.channels.lock().expect("not poisoned");
        if let Some(c) = channels.get(address) {
            return Ok(c.clone());
        }
        // No request timeout on the channel: every call has its own (an
        // attempt's, or [`MAX_ATTEMPT_TIMEOUT`]), and a second would be one
        // more timer per request.
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| ClientError::Failed(format!("bad endpoint {address:?}: {e}")))?
            .connect_timeout(Duration::from_secs(1));
        let channel = crate::unvectored::lazy_channel(endpoint);
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
    /// until it succeeds, fails for good, or the deadline passes. A write
    /// keeps its session across attempts, so a retry applies it at most
    /// once; one whose earlier attempt may have reached a leader ends
    /// [`ClientError::Ambiguous`] if it never gets an answer.
    async fn with_leader<T, F, Fut>(&self, write: bool, call: F) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let deadline = Instant::now() + self.deadline;
        let mut maybe_sent = false;
        let mut last_error = String::from("no member named a leader");
        let mut pause = false;
        // Redirects in a row: members naming each other (each behind the
        // other) get a pause between rounds, not a spin.
        let mut redirects = 0;
        loop {
            if pause {
                tokio::time::sleep(self.timing.poll_interval()).await;
                pause = false;
            }
            if Instant::now() >= deadline {
                break;
            }
            let target = match self.current_leader() {
                Some(known) => known,
                None => match self.discover().await {
                    Some(known) => known,
                    None => {
                        pause = true;
                        continue;
                    }
                },
            };
            let Ok(channel) = self.channel(&target.address) else {
                last_error = format!("{}: not an address", target.address);
                self.suspect(&target.address);
                self.forget(&target.address);
                continue;
            };
            let failure = match self.attempt(&target, call(channel)).await {
                Attempt::Answered(Ok(v)) => {
                    self.unsuspect(&target.address);
                    self.believe(target);
                    return Ok(v);
                }
                Attempt::TimedOut(timeout) => {
                    // A frozen or cut-off node: try the others at once, and
                    // keep away from it for a while even if a follower that
                    // has not noticed yet still names it as the leader.
                    maybe_sent |= write;
                    last_error = format!("{}: no answer within {timeout:?}", target.address);
                    self.suspect(&target.address);
                    self.forget(&target.address);
                    continue;
                }
                Attempt::Superseded(newer) => {
                    // Its followers moved on: the new leader (which
                    // discovery now believes in) takes the retry.
                    maybe_sent |= write;
                    last_error = format!("{}: {} leads term {} instead", target.address, newer.address, newer.term);
                    self.suspect(&target.address);
                    continue;
                }
                Attempt::Answered(Err(status)) => classify(&status),
            };
            redirects = if matches!(failure, Failure::Redirect(_)) { redirects + 1 } else { 0 };
            match failure {
                Failure::Redirect(hint) => {
                    last_error = format!("{} is not the leader", target.address);
                    self.forget(&target.address);
                    match hint.filter(|h| *h != target.address && !self.is_suspect(h)) {
                        Some(address) => self.believe(Known { address, term: 0 }),
                        // It knows no leader: an election is under way;
                        // the next round asks every member.
                        None => pause = redirects > 1,
                    }
                    pause |= redirects > self.endpoints.len();
                }
                Failure::Retry { sent, unreachable, why } => {
                    maybe_sent |= sent;
                    last_error = format!("{}: {why}", target.address);
                    if unreachable {
                        self.suspect(&target.address);
                    }
                    self.forget(&target.address);
                    pause = true;
                }
                Failure::Fatal(why) if write && maybe_sent => {
                    return Err(ClientError::Ambiguous(format!("{why}, after an attempt that may have applied")));
                }
                Failure::Fatal(why) => return Err(ClientError::Failed(why)),
            }
        }
        let why = format!("gave up after {:?}: {last_error}", self.deadline);
        Err(if write && maybe_sent { ClientError::Ambiguous(why) } else { ClientError::Failed(why) })
    }

    /// One attempt on `target`, given up when it times out or when the
    /// members name a newer leader meanwhile. The members are watched only
    /// once it has waited [`Timing::watch_after`], so an attempt a leader
    /// answers in time costs one timer and no status calls.
    async fn attempt<T>(&self, target: &Known, call: impl Future<Output = Result<T, Status>>) -> Attempt<T> {
        let timeout = self.timing.attempt();
        let watch_after = self.timing.watch_after().min(timeout);
        let mut call = std::pin::pin!(call);
        if let Ok(answer) = tokio::time::timeout(watch_after, &mut call).await {
            return Attempt::Answered(answer);
        }
        tokio::select! {
            answer = tokio::time::timeout(timeout - watch_after, &mut call) => match answer {
                Ok(answer) => Attempt::Answered(answer),
                Err(_) => Attempt::TimedOut(timeout),
            },
            newer = self.newer_leader_than(target) => Attempt::Superseded(newer),
        }
    }

    /// Resolves once the members name another leader than `target`, in a
    /// later term than it was seen leading.
    async fn newer_leader_than(&self, target: &Known) -> Known {
        let _stalled = Stalled::new(self, &target.address);
        loop {
            if let Some(found) = self.discover().await
                && found.address != target.address
                && found.term > target.term
            {
                return found;
            }
            tokio::time::sleep(self.timing.poll_interval()).await;
        }
    }

    /// Asks every member for its status at once and believes the leader of
    /// the highest term reported (see [`leader::choose`]). One discovery
    /// runs at a time: a caller that waited for one begun after it asked
    /// takes that one's answer instead of asking again.
    async fn discover(&self) -> Option<Known> {
        let asked = Instant::now();
        let mut last = self.discovery.lock().await;
        if last.is_some_and(|started| started >= asked) {
            return self.current_leader();
        }
        *last = Some(Instant::now());
        let found = self.poll_members().await;
        if let Some(known) = &found {
            self.believe(known.clone());
        }
        found
    }

    /// One round of status calls: waits for every member, or for a
    /// majority when that settles it (see [`leader::settled`]). A member
    /// that does not answer in time becomes a suspect.
    async fn poll_members(&self) -> Option<Known> {
        let wait = self.timing.status_wait();
        let mut polls = JoinSet::new();
        for address in &self.endpoints {
            let Ok(channel) = self.channel(address) else { continue };
            let (address, request) = (address.clone(), self.request(apb::StatusRequest {}));
            polls.spawn(async move {
                let answer = tokio::time::timeout(wait, AdminClient::new(channel).status(request)).await;
                (address, answer)
            });
        }
        let unresponsive = |address: &String| self.is_suspect(address) || self.stalled_on(address);
        let mut reports = Vec::new();
        let mut silent = self.endpoints.clone();
        while !settled(reports.len(), self.endpoints.len(), choose(&reports).is_some(), silent.iter().all(unresponsive))
        {
            let Some(joined) = polls.join_next().await else { break };
            let Ok((address, answer)) = joined else { continue };
            silent.retain(|s| *s != address);
            match answer {
                Ok(Ok(status)) => {
                    let status = status.into_inner();
                    self.unsuspect(&address);
                    self.learn_timeouts(&status);
                    let leader = Some(status.leader_address).filter(|a| !a.is_empty());
                    reports.push(Report { from: address, term: status.term, leads: status.role == "Leader", leader });
                }
                Ok(Err(_)) | Err(_) => self.suspect(&address),
            }
        }
        choose(&reports)
    }

    /// Runs `call` on the members in turn (the first endpoint first,
    /// suspects last) until one answers, round after round until the
    /// deadline: for reads any member serves, which a refusal (the leader
    /// they go through changing) or silence only sends to the next one.
    async fn on_any_member<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let deadline = Instant::now() + self.deadline;
        let mut last_error = String::from("no endpoint");
        loop {
            let mut order: Vec<&String> = self.endpoints.iter().collect();
            order.sort_by_key(|address| self.is_suspect(address));
            for address in order {
                let timeout = self.timing.attempt();
                let why = match tokio::time::timeout(timeout, call(self.channel(address)?)).await {
                    Ok(Ok(answer)) => return Ok(answer),
                    Ok(Err(status)) => match classify(&status) {
                        Failure::Fatal(why) => return Err(ClientError::Failed(format!("{address}: {why}"))),
                        Failure::Retry { unreachable, why, .. } => {
                            if unreachable {
                                self.suspect(address);
                            }
                            why
                        }
                        Failure::Redirect(_) => "not the leader, which it reads through".into(),
                    },
                    Err(_) => {
                        self.suspect(address);
                        format!("no answer within {timeout:?}")
                    }
                };
                last_error = format!("{address}: {why}");
            }
            if Instant::now() + self.timing.poll_interval() >= deadline {
                return Err(ClientError::Failed(format!("gave up after {:?}: {last_error}", self.deadline)));
            }
            tokio::time::sleep(self.timing.poll_interval()).await;
        }
    }

    /// A new session seq; the returned guard marks it answered when dropped.
    fn session(&self) -> (kpb::Session, Outstanding<'_>) {
        // The seq is taken under the lock: taken before it, a later seq
        // could be inserted first and carry a first_outstanding above this
        // one, and the nodes would then refuse this write as answered and
        // forgotten (or forget its answer before a retry asks for it).
        let mut outstanding = self.outstanding.lock().expect("not poisoned");
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
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

    /// Reads a register. `Follower` and `Stale` reads go to the first
    /// endpoint instead of the leader, or to the next when it does not
    /// answer.
    pub async fn get(&self, key: &str, consistency: Consistency) -> Result<kpb::GetResponse, ClientError> {
        let r = kpb::GetRequest { key: key.into(), consistency: consistency as i32 };
        if matches!(consistency, Consistency::Follower | Consistency::Stale) {
            let resp = self.on_any_member(|c| {
                let req = self.request(r.clone());
                async move { KvClient::new(c).get(req).await }
            });
            return Ok(resp.await?.into_inner());
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
        let request = self.request(apb::StatusRequest {});
        let status = self.on_member(address, |mut admin| async move { admin.status(request).await }).await?;
        self.learn_timeouts(&status);
        Ok(status)
    }

    pub async fn digest(&self, address: &str) -> Result<apb::DigestResponse, ClientError> {
        let request = self.request(apb::StatusRequest {});
        self.on_member(address, |mut admin| async move { admin.state_digest(request).await }).await
    }

    /// The node's stream of role changes.
    pub async fn events(&self, address: &str) -> Result<tonic::Streaming<apb::NodeEvent>, ClientError> {
        let request = self.request(apb::StatusRequest {});
        self.on_member(address, |mut admin| async move { admin.events(request).await }).await
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
        let request =
            self.request(apb::FaultsRequest { drop_outgoing_to, drop_incoming_from, clock_skew_ppm, disk_delay_ms });
        self.on_member(address, |mut admin| async move { admin.set_faults(request).await }).await.map(|_| ())
    }

    /// Sets one of a node's failpoints (see `node::failpoints`); `off` clears it.
    pub async fn set_failpoint(&self, address: &str, name: &str, actions: &str) -> Result<(), ClientError> {
        let request = self.request(apb::FailpointRequest { name: name.into(), actions: actions.into() });
        self.on_member(address, |mut admin| async move { admin.set_failpoint(request).await }).await.map(|_| ())
    }

    /// One admin call on `address`, given up after [`MAX_ATTEMPT_TIMEOUT`].
    async fn on_member<T, Fut>(
        &self,
        address: &str,
        call: impl FnOnce(AdminClient<Channel>) -> Fut,
    ) -> Result<T, ClientError>
    where
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let admin = AdminClient::new(self.channel(address)?);
        match tokio::time::timeout(MAX_ATTEMPT_TIMEOUT, call(admin)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(ClientError::Failed(format!("{address}: {}", status.message()))),
            Err(_) => Err(ClientError::Failed(format!("{address}: no answer within {MAX_ATTEMPT_TIMEOUT:?}"))),
        }
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

/// An attempt on a member waiting past [`Timing::watch_after`]; dropped
/// when the attempt ends.
struct Stalled<'a> {
    client: &'a Client,
    address: String,
}

impl<'a> Stalled<'a> {
    fn new(client: &'a Client, address: &str) -> Stalled<'a> {
        *client.stalled.lock().expect("not poisoned").entry(address.to_string()).or_default() += 1;
        Stalled { client, address: address.to_string() }
    }
}

impl Drop for Stalled<'_> {
    fn drop(&mut self) {
        let mut stalled = self.client.stalled.lock().expect("not poisoned");
        if let Some(count) = stalled.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                stalled.remove(&self.address);
            }
        }
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
