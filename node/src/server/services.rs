//! Starting a node, and its three gRPC services.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::mpsc::Sender;
use std::time::Duration;

use anyhow::Context;
use raft::{Config, Durable, Raft, UnsafeBug};
use tokio::sync::{broadcast, oneshot};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};

use crate::kv::KvState;
use crate::proto::admin::{self as apb, admin_server::AdminServer};
use crate::proto::kv::{self as kpb, command::Op, kv_server::KvServer};
use crate::proto::raft::{self as rpb, raft_peer_server::RaftPeerServer};
use crate::server::driver::{ChangeRequest, Driver, DriverParts, Input, KvError, NodeHandle, ReadAnswer};
use crate::server::local_reads::LocalReads;
use crate::server::peers::Peers;
use crate::server::writer::Writer;
use crate::storage::{SnapshotStore, Wal, WalOptions, check_identity};

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: u64,
    pub listen: SocketAddr,
    /// Bootstrap members and their addresses (this node included).
    pub peers: BTreeMap<u64, String>,
    /// Join an existing cluster through this member instead of bootstrapping.
    pub join: Option<String>,
    pub data: PathBuf,
    pub cluster: String,
    pub tick: Duration,
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub fsync: bool,
    /// How much slower than real time this node's clock may run; the lease
    /// is shortened to match.
    pub max_clock_drift: f64,
    /// Note how far the WAL is synced, for power-cut tests.
    pub track_durable: bool,
    pub admin_token: Option<String>,
    pub unsafe_bugs: BTreeSet<UnsafeBug>,
    pub snapshot_every: u64,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// How long a node bootstrapping on an empty data directory waits for
    /// its peers to say whether they know it already (see rejoin_guard).
    pub bootstrap_wait: Duration,
    /// Threads serving gRPC connections (see serving).
    pub serving_threads: usize,
}

/// Runs a node until `shutdown` resolves.
pub async fn run(cfg: NodeConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    if !cfg.unsafe_bugs.is_empty() {
        let names: Vec<String> = cfg.unsafe_bugs.iter().map(|b| b.to_string()).collect();
        warn!("UNSAFE BUGS PLANTED ON PURPOSE: {}. THIS NODE IS NOT SAFE TO USE.", names.join(", "));
    }
    if !cfg.fsync {
        warn!("--fsync=false: acknowledged writes can be lost on a crash; for benchmarks only");
    }
    let Opened { durable, kv, wal, snapshots, unconfirmed } = open_storage(&cfg)?;
    let mut raft_cfg = Config::new(cfg.id);
    raft_cfg.election_tick = cfg.election_ticks;
    raft_cfg.heartbeat_tick = cfg.heartbeat_ticks;
    raft_cfg.max_clock_drift = cfg.max_clock_drift;
    raft_cfg.unsafe_bugs = cfg.unsafe_bugs.clone();
    raft_cfg.seed = crate::server::driver::wall_ns() ^ cfg.id;
    let raft = Raft::new(raft_cfg, durable).context("configuring the Raft core")?;

    // The serving threads also run the outbound peer streams: a put's
    // round to the followers then takes no hop through another runtime.
    let serving =
        crate::runtimes::RuntimeThreads::start(cfg.serving_threads, "serve").context("starting the serving threads")?;
    let peers = Peers::new(cfg.id, cfg.listen, serving.handles().to_vec());
    let (input_tx, input_rx) = std::sync::mpsc::channel();
    let (disk_tx, disk_rx) = std::sync::mpsc::channel();
    let (events, _) = broadcast::channel(1024);
    let metrics = std::sync::Arc::new(crate::server::metrics::Metrics::default());
    if let Some(addr) = cfg.metrics {
        crate::server::metrics::serve(addr, metrics.clone())
            .await
            .with_context(|| format!("serving metrics on {addr}"))?;
    }
    let disk_delay_ms = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = Writer {
        wal,
        snapshots,
        peers: peers.clone(),
        driver: input_tx.clone(),
        metrics: metrics.clone(),
        delay_ms: disk_delay_ms.clone(),
        unsafe_forget_snapshot_install: cfg.unsafe_bugs.contains(&UnsafeBug::ForgetSnapshotInstall),
    };
    std::thread::Builder::new().name("disk".into()).spawn(move || writer.run(disk_rx))?;
    let local = LocalReads::new(kv, metrics.clone());
    let driver = Driver::new(DriverParts {
        raft,
        local: local.clone(),
        peers: peers.clone(),
        writer: disk_tx,
        inputs: input_rx,
        events: events.clone(),
        tick: cfg.tick,
        snapshot_every: cfg.snapshot_every,
        seed_addresses: cfg.peers.clone(),
        fsync: cfg.fsync,
        metrics,
        cluster: cfg.cluster.clone(),
        confirmed: !unconfirmed,
    });
    // If the driver stops (its input closed), the node stops too, rather than
    // serving requests nobody will answer.
    let (stopped_tx, stopped_rx) = oneshot::channel::<()>();
    std::thread::Builder::new().name("raft".into()).spawn(move || {
        driver.run();
        let _ = stopped_tx.send(());
    })?;

    let (refused_tx, refused_rx) = oneshot::channel::<anyhow::Error>();
    if unconfirmed {
        let inputs = input_tx.clone();
        let (id, cluster, dir, peers, token) =
            (cfg.id, cfg.cluster.clone(), cfg.data.clone(), cfg.peers.clone(), cfg.admin_token.clone());
        let wait = cfg.bootstrap_wait;
        tokio::spawn(async move {
            match crate::server::rejoin_guard::confirm_bootstrap(id, &cluster, &dir, &peers, token, wait).await {
                Ok(()) => {
                    let _ = inputs.send(Input::BootstrapConfirmed);
                }
                Err(e) => {
                    let _ = refused_tx.send(e);
                }
            }
        });
    }
    let handle = NodeHandle { inputs: input_tx, events };
    if let Some(through) = cfg.join.clone() {
        tokio::spawn(join_cluster(through, cfg.id, cfg.listen.to_string(), cfg.admin_token.clone()));
    }
    info!(id = cfg.id, listen = %cfg.listen, "serving");
    let router = tonic::transport::Server::builder()
        .add_service(RaftPeerServer::new(PeerService { handle: handle.clone(), peers: peers.clone(), me: cfg.id }))
        .add_service(KvServer::new(KvService { handle: handle.clone(), local }))
        .add_service(AdminServer::new(AdminService { handle, peers, token: cfg.admin_token.clone(), disk_delay_ms }));
    let serve = crate::server::serving::serve(cfg.listen, &serving, router, shutdown);
    tokio::select! {
        served = serve => served.with_context(|| format!("serving on {}", cfg.listen)),
        _ = stopped_rx => anyhow::bail!("the Raft driver stopped (see the log above: a failed disk write stops the node)"),
        Ok(refused) = refused_rx => Err(refused),
    }
}

struct Opened {
    durable: Durable,
    kv: KvState,
    wal: Wal,
    snapshots: SnapshotStore,
    /// Bootstrapped on an empty directory, and the peers not yet asked
    /// whether they know this node already.
    unconfirmed: bool,
}

fn open_storage(cfg: &NodeConfig) -> anyhow::Result<Opened> {
    check_identity(&cfg.data, &cfg.cluster, cfg.id)?;
    let snapshots = SnapshotStore::open(&cfg.data)?;
    let options = WalOptions {
        sync: cfg.fsync,
        track_durable: cfg.track_durable,
        unsafe_ignore_sync_errors: cfg.unsafe_bugs.contains(&UnsafeBug::IgnoreFsyncError),
        ..Default::default()
    };
    let (mut wal, recovered) = Wal::open(&cfg.data, options)?;
    let snapshot = snapshots.load_latest()?;
    let fresh = snapshot.is_none() && recovered.entries.is_empty() && recovered.hard_state == Default::default();
    if fresh {
        let durable = match (&cfg.join, cfg.peers.is_empty()) {
            (Some(_), _) => Durable::default(),
            (None, false) => Durable::bootstrap(cfg.peers.keys().copied()),
            (None, true) => anyhow::bail!(
                "{} is empty: give --peers to bootstrap a cluster or --join to join one",
                cfg.data.display()
            ),
        };
        if !cfg.peers.is_empty() && !cfg.peers.contains_key(&cfg.id) && cfg.join.is_none() {
            anyhow::bail!("--peers does not list this node's id {}", cfg.id);
        }
        let unconfirmed = cfg.join.is_none() && cfg.peers.keys().any(|&p| p != cfg.id);
        if unconfirmed {
            crate::server::rejoin_guard::mark_unconfirmed(&cfg.data)?;
        }
        // Write the bootstrap state before anything depends on it.
        wal.append(Some(durable.hard_state), &durable.entries)?;
        wal.sync()?;
        info!(data = %cfg.data.display(), "initialized a new data directory");
        return Ok(Opened { durable, kv: KvState::default(), wal, snapshots, unconfirmed });
    }
    let snapshot = snapshot.unwrap_or_default();
    let kv = KvState::decode_snapshot(&snapshot.data).context("decoding the latest snapshot")?;
    let floor = snapshot.meta.index;
    let entries = crate::storage::entries_after(&snapshot.meta, recovered.entries);
    info!(snapshot = floor, "recovered from disk");
    let durable = Durable { hard_state: recovered.hard_state, snapshot, entries };
    let unconfirmed = crate::server::rejoin_guard::is_unconfirmed(&cfg.data);
    Ok(Opened { durable, kv, wal, snapshots, unconfirmed })
}

/// A new node asks the cluster to add it as a learner, retrying until it is.
async fn join_cluster(through: String, id: u64, address: String, token: Option<String>) {
    let client = crate::client::Client::new(vec![through], token);
    loop {
        match client.add_learner(id, &address).await {
            Ok(_) => {
                info!(id, "joined the cluster as a learner");
                return;
            }
            Err(e) if e.to_string().contains("already a member") => return,
            Err(e) => warn!(error = %e, "joining failed; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sends an input to the driver and waits for its answer.
async fn ask<T>(handle: &NodeHandle, make: impl FnOnce(oneshot::Sender<T>) -> Input) -> Result<T, Status> {
    let (tx, rx) = oneshot::channel();
    send(&handle.inputs, make(tx))?;
    rx.await.map_err(|_| Status::unavailable("the node is shutting down"))
}

fn send(inputs: &Sender<Input>, input: Input) -> Result<(), Status> {
    inputs.send(input).map_err(|_| Status::unavailable("the node is shutting down"))
}

/// The mapping clients rely on (see kv.proto).
fn to_status(e: KvError) -> Status {
    match e {
        KvError::NotLeader { leader_address } => {
            let mut status = Status::failed_precondition("not the leader");
            if let Some(addr) = leader_address.and_then(|a| a.parse().ok()) {
                status.metadata_mut().insert("x-raft-leader", addr);
            }
            status
        }
        KvError::Unavailable(why) => {
            // Tells a client the write certainly did not apply, unlike a
            // transport failure, which also surfaces as UNAVAILABLE.
            let mut status = Status::unavailable(why);
            status.metadata_mut().insert("x-raft-outcome", "not-applied".parse().expect("ascii"));
            status
        }
        KvError::Ambiguous(why) => Status::unknown(why),
        KvError::Invalid(why) => Status::invalid_argument(why),
    }
}

struct PeerService {
    handle: NodeHandle,
    peers: Peers,
    me: u64,
}

#[tonic::async_trait]
impl rpb::raft_peer_server::RaftPeer for PeerService {
    async fn stream(
        &self,
        request: Request<Streaming<rpb::PeerMessage>>,
    ) -> Result<Response<rpb::StreamClosed>, Status> {
        // Answer on our own stream to the sender, even before the log tells
        // us its address (as when this node is joining).
        let from = request.metadata().get(crate::server::peers::FROM_HEADER).and_then(|v| v.to_str().ok());
        if let Some((id, address)) = from.and_then(|f| f.split_once('='))
            && let (Ok(id), Ok(_)) = (id.parse::<u64>(), address.parse::<SocketAddr>())
            && id != self.me
        {
            self.peers.ensure(id, address.to_string());
        }
        let mut stream = request.into_inner();
        while let Some(m) = stream.next().await {
            let m = m?;
            if m.to != self.me || self.peers.drops_from(m.from) {
                continue;
            }
            let m = crate::wire::from_pb(m).map_err(|e| Status::invalid_argument(e.to_string()))?;
            send(&self.handle.inputs, Input::Peer(m))?;
        }
        Ok(Response::new(rpb::StreamClosed {}))
    }
}

struct KvService {
    handle: NodeHandle,
    local: std::sync::Arc<LocalReads>,
}

impl KvService {
    async fn write(&self, session: Option<kpb::Session>, op: Op) -> Result<crate::kv::WriteOutcome, Status> {
        let session = session.unwrap_or_default();
        ask(&self.handle, |reply| Input::Write { session, op, reply }).await?.map_err(to_status)
    }

    async fn read(&self, key: String, list: bool, consistency: i32) -> Result<ReadAnswer, Status> {
        let consistency =
            kpb::Consistency::try_from(consistency).map_err(|_| Status::invalid_argument("unknown consistency"))?;
        if let Some(answer) = self.local.read(&key, list, consistency) {
            return answer.map_err(to_status);
        }
        ask(&self.handle, |reply| Input::Read { key, list, consistency, reply }).await?.map_err(to_status)
    }
}

#[tonic::async_trait]
impl kpb::kv_server::Kv for KvService {
    async fn put(&self, r: Request<kpb::PutRequest>) -> Result<Response<kpb::WriteResponse>, Status> {
        let mut r = r.into_inner();
        let session = r.session.take();
        let out = self.write(session, Op::Put(r)).await?;
        Ok(Response::new(kpb::WriteResponse { index: out.index }))
    }

    async fn delete(&self, r: Request<kpb::DeleteRequest>) -> Result<Response<kpb::WriteResponse>, Status> {
        let mut r = r.into_inner();
        let session = r.session.take();
        let out = self.write(session, Op::Delete(r)).await?;
        Ok(Response::new(kpb::WriteResponse { index: out.index }))
    }

    async fn cas(&self, r: Request<kpb::CasRequest>) -> Result<Response<kpb::CasResponse>, Status> {
        let mut r = r.into_inner();
        let session = r.session.take();
        let out = self.write(session, Op::Cas(r)).await?;
        Ok(Response::new(kpb::CasResponse { index: out.index, succeeded: out.succeeded, current: out.current }))
    }

    async fn append(&self, r: Request<kpb::AppendRequest>) -> Result<Response<kpb::WriteResponse>, Status> {
        let mut r = r.into_inner();
        let session = r.session.take();
        let out = self.write(session, Op::Append(r)).await?;
        Ok(Response::new(kpb::WriteResponse { index: out.index }))
    }

    async fn txn(&self, r: Request<kpb::TxnRequest>) -> Result<Response<kpb::TxnResponse>, Status> {
        let mut r = r.into_inner();
        let session = r.session.take();
        let out = self.write(session, Op::Txn(r)).await?;
        let reads = out.reads.into_iter().map(|(key, value)| kpb::TxnRead { key, value }).collect();
        Ok(Response::new(kpb::TxnResponse { index: out.index, succeeded: out.succeeded, reads }))
    }

    async fn get(&self, r: Request<kpb::GetRequest>) -> Result<Response<kpb::GetResponse>, Status> {
        let r = r.into_inner();
        match self.read(r.key, false, r.consistency).await? {
            ReadAnswer::Register { value, index } => Ok(Response::new(kpb::GetResponse { value, index })),
            ReadAnswer::List { .. } => Err(Status::internal("a register read answered with a list")),
        }
    }

    async fn read_list(&self, r: Request<kpb::ReadListRequest>) -> Result<Response<kpb::ReadListResponse>, Status> {
        let r = r.into_inner();
        match self.read(r.key, true, r.consistency).await? {
            ReadAnswer::List { values, index } => Ok(Response::new(kpb::ReadListResponse { values, index })),
            ReadAnswer::Register { .. } => Err(Status::internal("a list read answered with a register")),
        }
    }
}

struct AdminService {
    /// Shared with the disk thread: its fault hook.
    disk_delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    handle: NodeHandle,
    peers: Peers,
    token: Option<String>,
}

impl AdminService {
    /// Mutating calls need `authorization: Bearer TOKEN` when a token is set.
    fn authorize<T>(&self, r: &Request<T>) -> Result<(), Status> {
        let Some(token) = &self.token else { return Ok(()) };
        let given = r.metadata().get("authorization").and_then(|v| v.to_str().ok());
        if given == Some(format!("Bearer {token}").as_str()) {
            Ok(())
        } else {
            Err(Status::permission_denied("this call needs the admin token"))
        }
    }

    async fn change(&self, change: ChangeRequest) -> Result<Response<apb::ChangeResponse>, Status> {
        let index = ask(&self.handle, |reply| Input::Change { change, reply }).await?.map_err(to_status)?;
        Ok(Response::new(apb::ChangeResponse { index }))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<apb::NodeEvent, Status>> + Send>>;

#[tonic::async_trait]
impl apb::admin_server::Admin for AdminService {
    async fn status(&self, _: Request<apb::StatusRequest>) -> Result<Response<apb::StatusResponse>, Status> {
        Ok(Response::new(ask(&self.handle, |reply| Input::Status { reply }).await?))
    }

    async fn state_digest(&self, _: Request<apb::StatusRequest>) -> Result<Response<apb::DigestResponse>, Status> {
        Ok(Response::new(ask(&self.handle, |reply| Input::Digest { reply }).await?))
    }

    async fn add_learner(&self, r: Request<apb::AddLearnerRequest>) -> Result<Response<apb::ChangeResponse>, Status> {
        self.authorize(&r)?;
        let r = r.into_inner();
        if r.address.parse::<SocketAddr>().is_err() {
            return Err(Status::invalid_argument(format!("{:?} is not an IP:port address", r.address)));
        }
        self.change(ChangeRequest::AddLearner { id: r.id, address: r.address }).await
    }

    async fn promote(&self, r: Request<apb::NodeRequest>) -> Result<Response<apb::ChangeResponse>, Status> {
        self.authorize(&r)?;
        self.change(ChangeRequest::Promote(r.into_inner().id)).await
    }

    async fn remove(&self, r: Request<apb::NodeRequest>) -> Result<Response<apb::ChangeResponse>, Status> {
        self.authorize(&r)?;
        self.change(ChangeRequest::Remove(r.into_inner().id)).await
    }

    async fn transfer_leader(&self, r: Request<apb::NodeRequest>) -> Result<Response<apb::ChangeResponse>, Status> {
        self.authorize(&r)?;
        self.change(ChangeRequest::Transfer(r.into_inner().id)).await
    }

    async fn reset_peers(&self, r: Request<apb::ResetPeersRequest>) -> Result<Response<apb::ChangeResponse>, Status> {
        self.authorize(&r)?;
        self.change(ChangeRequest::ResetPeers(r.into_inner().voters)).await
    }

    type EventsStream = EventStream;

    async fn events(&self, _: Request<apb::StatusRequest>) -> Result<Response<EventStream>, Status> {
        // Subscribe first, then say where the node stands now: a watcher
        // that joins late still learns the current leader and term.
        let rx = self.handle.events.subscribe();
        let now = ask(&self.handle, |reply| Input::Status { reply }).await?;
        let current = apb::NodeEvent {
            node: now.id,
            kind: "role".into(),
            role: now.role,
            term: now.term,
            leader: now.leader,
            wall_ns: crate::server::driver::wall_ns(),
            monotonic_ns: 0,
            lease_until_ns: 0,
            detail: "current state at subscription".into(),
        };
        let changes = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|e| e.ok());
        let stream = tokio_stream::once(current).chain(changes).map(Ok::<_, Status>);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn set_faults(&self, r: Request<apb::FaultsRequest>) -> Result<Response<apb::ChangeResponse>, Status> {
        self.authorize(&r)?;
        let r = r.into_inner();
        warn!(
            drop_to = ?r.drop_outgoing_to,
            drop_from = ?r.drop_incoming_from,
            skew_ppm = r.clock_skew_ppm,
            disk_delay_ms = r.disk_delay_ms,
            "fault hooks set"
        );
        self.disk_delay_ms.store(r.disk_delay_ms, std::sync::atomic::Ordering::Relaxed);
        self.peers.set_faults(r.drop_outgoing_to.into_iter().collect(), r.drop_incoming_from.into_iter().collect());
        send(&self.handle.inputs, Input::ClockSkew(r.clock_skew_ppm))?;
        Ok(Response::new(apb::ChangeResponse { index: 0 }))
    }

    async fn set_failpoint(&self, r: Request<apb::FailpointRequest>) -> Result<Response<apb::ChangeResponse>, Status> {
        self.authorize(&r)?;
        let r = r.into_inner();
        crate::failpoints::set(&r.name, &r.actions).map_err(Status::invalid_argument)?;
        warn!(name = %r.name, actions = %r.actions, "failpoint set");
        Ok(Response::new(apb::ChangeResponse { index: 0 }))
    }
}
