//! etcd (Debian's `etcd-server`, 3.4) as a system under test, through its
//! v3 gRPC API (loadgen's minimal protos, [`loadgen::etcd_api`]).
//!
//! Mapping:
//! - A member is named `n<id>.<cluster identity>`: etcd's member ids are
//!   hashes, so each answer is mapped back to ours by name, and the name
//!   carries the run's cluster identity (etcd reports no other; the
//!   identity is also the `--initial-cluster-token`). A member added but
//!   not started yet has no name: the id `MemberAdd` gave it is kept.
//! - Status is Maintenance.Status (leader, term, applied index, learner)
//!   plus Cluster.MemberList (the membership as the member sees it). A
//!   learner that knows a leader and has applied something counts as a
//!   follower: caught up enough to be promoted (etcd refuses a promotion
//!   until it is in sync, so [`System::promote`] retries).
//! - etcd has no event stream: leader and term are polled from every
//!   member's status every [`ROLE_POLL`], and a change is an event. A
//!   leadership shorter than that may go unseen; the split-brain check sees
//!   only what the polls saw.
//! - The final state: a serializable range read of every key on each
//!   member (its own state), digested with the revision it was read at;
//!   members agree once they report the same revision and digest.
//! - Membership: `MemberAdd` as a learner before the new member starts
//!   (which then starts with `--initial-cluster-state existing`),
//!   `MemberPromote`, `MemberRemove`; leader transfer is `MoveLeader`, sent
//!   to the leader.
//! - No admin fault hooks, no Raft-clock skew, no slow disk, no
//!   durable-write marker, no lease-read events, no planted bugs: the faults
//!   that need them are refused when the scenario loads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use loadgen::etcd_api::cluster_client::ClusterClient;
use loadgen::etcd_api::kv_client::KvClient;
use loadgen::etcd_api::maintenance_client::MaintenanceClient;
use loadgen::etcd_api::{
    Member, MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest, MoveLeaderRequest,
    RangeRequest, StatusRequest, StatusResponse,
};
use sha2::{Digest as _, Sha256};
use tonic::transport::{Channel, Endpoint};

use super::{
    Bootstrap, Digest, FaultHooks, Launch, MemberEvent, MemberSpec, MemberStatus, Role, System, SystemCapability,
    SystemError,
};
use crate::backend::NodeId;
use crate::check::NodeEventKind;

/// How often each member's status is polled for leader and term changes.
pub const ROLE_POLL: Duration = Duration::from_millis(100);
/// How long one call to a member may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a membership change is retried while etcd calls the cluster
/// unhealthy, and how often.
const CHANGE_FOR: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// The etcd program, on the host.
    pub program: PathBuf,
    /// Flags given to every member after the harness's own (timeouts...).
    pub member_args: Vec<String>,
}

/// etcd's heartbeat and election timeouts in milliseconds, unless the
/// scenario's `etcd_args` say otherwise: close to raft-node's 20 ms ticks
/// and 200-400 ms elections, within what etcd accepts (an election at least
/// five heartbeats).
const DEFAULT_TIMEOUTS: [&str; 4] = ["--heartbeat-interval", "50", "--election-timeout", "500"];

pub struct Etcd {
    options: EtcdOptions,
    members: Arc<Members>,
}

/// How to reach members and tell who they are; shared with the pollers of
/// [`System::events`].
#[derive(Default)]
struct Members {
    /// One lazily connected channel per member address.
    channels: Mutex<HashMap<SocketAddr, Channel>>,
    /// etcd's member ids to ours, as seen so far: from members' names,
    /// and from admissions (a member not started yet has no name).
    ids: Mutex<BTreeMap<u64, NodeId>>,
}

fn failed(what: &str, at: SocketAddr, status: tonic::Status) -> SystemError {
    SystemError(format!("{what} at {at}: {:?}: {}", status.code(), status.message()))
}

/// `n<id>.<identity>`, as the member is named.
fn member_name(id: NodeId, cluster: &str) -> String {
    format!("n{id}.{cluster}")
}

/// Our id and the cluster identity from a member's name.
fn parse_name(name: &str) -> Option<(NodeId, &str)> {
    let (id, cluster) = name.strip_prefix('n')?.split_once('.')?;
    Some((id.parse().ok()?, cluster))
}

fn url(address: SocketAddr) -> String {
    format!("http://{address}")
}

impl Etcd {
    pub fn new(options: EtcdOptions) -> Etcd {
        Etcd { options, members: Arc::default() }
    }
}

/// The value of `flag` (`--name`) in etcd's arguments, the last one given,
/// as etcd's flag parsing (Go's) takes it: `-name` or `--name`, then
/// `=VALUE` or the next argument.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let name = flag.trim_start_matches('-');
    let mut found = None;
    for (i, arg) in args.iter().enumerate() {
        let Some(given) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else { continue };
        if given == name {
            found = Some(args.get(i + 1).map_or("", String::as_str));
        } else if let Some(value) = given.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')) {
            found = Some(value);
        }
    }
    found
}

impl Members {
    fn channel(&self, at: SocketAddr) -> Channel {
        let mut channels = self.channels.lock().expect("not poisoned");
        channels
            .entry(at)
            .or_insert_with(|| {
                Endpoint::from_shared(url(at))
                    .expect("an address makes a valid URI")
                    .connect_timeout(Duration::from_millis(500))
                    .timeout(CALL_TIMEOUT)
                    .tcp_nodelay(true)
                    .connect_lazy()
            })
            .clone()
    }

    /// Our id for one of etcd's members, by its name or as seen before.
    fn our_id(&self, member: &Member) -> Option<NodeId> {
        parse_name(&member.name).map(|(id, _)| id).or_else(|| self.known(member.id))
    }

    fn known(&self, etcd_id: u64) -> Option<NodeId> {
        self.ids.lock().expect("not poisoned").get(&etcd_id).copied()
    }

    async fn list(&self, at: SocketAddr) -> Result<Vec<Member>, SystemError> {
        let mut client = ClusterClient::new(self.channel(at));
        let listed = client.member_list(MemberListRequest {}).await.map_err(|e| failed("MemberList", at, e))?;
        let members = listed.into_inner().members;
        let mut ids = self.ids.lock().expect("not poisoned");
        for m in &members {
            if let Some((id, _)) = parse_name(&m.name) {
                ids.insert(m.id, id);
            }
        }
        drop(ids);
        Ok(members)
    }

    /// A learner's status: etcd serves a learner nothing but Status and
    /// serializable reads, so its membership is unknown and its ids are the
    /// ones seen before. One that knows a leader and has applied something
    /// counts as a follower (caught up enough to be promoted).
    fn learner_status(&self, at: SocketAddr, s: &StatusResponse, own: u64) -> Result<MemberStatus, SystemError> {
        let id =
            self.known(own).ok_or_else(|| SystemError(format!("{at}: learner {own:x} is not one of this run's")))?;
        let leader = self.known(s.leader).filter(|_| s.leader != 0);
        let role = if leader.is_some() && s.raft_applied_index > 0 { Role::Follower } else { Role::Other };
        Ok(member_status(s, id, role, leader, Vec::new(), String::new()))
    }

    /// etcd's id of our member `id`, asking the members in turn.
    async fn etcd_id(&self, members: &[SocketAddr], id: NodeId) -> Result<u64, SystemError> {
        let mut errors = Vec::new();
        for &at in members {
            match self.list(at).await {
                Ok(list) => match list.iter().find(|m| self.our_id(m) == Some(id)) {
                    Some(m) => return Ok(m.id),
                    None => errors.push(format!("{at} does not list node {id}")),
                },
                Err(e) => errors.push(e.0),
            }
        }
        Err(SystemError(format!("no member knows node {id}: {}", errors.join("; "))))
    }

    /// Runs `call` on each member in turn until one succeeds; the error
    /// names every failure.
    async fn on_any<F, Fut>(&self, members: &[SocketAddr], mut call: F) -> Result<(), SystemError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<(), tonic::Status>>,
    {
        let mut errors = Vec::new();
        for &at in members {
            match call(self.channel(at)).await {
                Ok(()) => return Ok(()),
                Err(e) => errors.push(format!("{at}: {:?}: {}", e.code(), e.message())),
            }
        }
        Err(SystemError(errors.join("; ")))
    }

    async fn status(&self, at: SocketAddr) -> Result<MemberStatus, SystemError> {
        let mut client = MaintenanceClient::new(self.channel(at));
        let s = client.status(StatusRequest {}).await.map_err(|e| failed("Status", at, e))?.into_inner();
        let own = s.header.map_or(0, |h| h.member_id);
        if s.is_learner {
            return self.learner_status(at, &s, own);
        }
        let members = self.list(at).await?;
        let me = members.iter().find(|m| m.id == own);
        let (id, cluster) = match me.and_then(|m| parse_name(&m.name)) {
            Some((id, cluster)) => (id, cluster.to_string()),
            None => {
                let id = me.and_then(|m| self.our_id(m));
                let id = id.ok_or_else(|| SystemError(format!("{at}: member {own:x} is not one of this run's")))?;
                (id, String::new())
            }
        };
        let leader = members.iter().find(|m| s.leader != 0 && m.id == s.leader).and_then(|m| self.our_id(m));
        let role = if s.leader != 0 && s.leader == own {
            Role::Leader
        } else if leader.is_some() {
            Role::Follower
        } else {
            Role::Other
        };
        let members = members.iter().filter_map(|m| Some((self.our_id(m)?, !m.is_learner))).collect();
        Ok(member_status(&s, id, role, leader, members, cluster))
    }
}

impl System for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn capabilities(&self) -> BTreeSet<SystemCapability> {
        BTreeSet::from([SystemCapability::Membership, SystemCapability::LeaderTransfer])
    }

    fn check_bug(&self, name: &str) -> Result<(), String> {
        Err(format!("etcd has no planted bugs, so {name:?} cannot be planted"))
    }

    /// etcd finds its name in the cluster it would bootstrap and exits.
    fn wiped_refusal(&self) -> &'static str {
        "has already been bootstrapped"
    }

    fn needs_peer_port(&self) -> bool {
        true
    }

    /// Each member dials its peers to receive their messages on streams
    /// they write to (rafthttp), besides the connections it sends on.
    fn sends_over_accepted_connections(&self) -> bool {
        true
    }

    /// etcd does not bind the connections it dials to its peer address.
    fn sends_from_its_address(&self) -> bool {
        false
    }

    fn launch(&self, member: &MemberSpec) -> Launch {
        let (state, peers) = match &member.bootstrap {
            Bootstrap::Peers(peers) => ("new", peers.clone()),
            Bootstrap::Join { members, .. } => {
                let mut all = members.clone();
                all.push((member.id, member.address));
                ("existing", all)
            }
        };
        let initial: Vec<String> = peers
            .iter()
            .map(|&(id, address)| format!("{}={}", member_name(id, &member.cluster), url(address)))
            .collect();
        let mut args: Vec<String> = [
            "--name",
            &member_name(member.id, &member.cluster),
            "--data-dir",
            &member.data_dir.to_string_lossy(),
            "--listen-client-urls",
            &url(member.client_address),
            "--advertise-client-urls",
            &url(member.client_address),
            "--listen-peer-urls",
            &url(member.address),
            "--initial-advertise-peer-urls",
            &url(member.address),
            "--initial-cluster",
            &initial.join(","),
            "--initial-cluster-state",
            state,
            "--initial-cluster-token",
            &member.cluster,
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        for pair in DEFAULT_TIMEOUTS.chunks(2) {
            if flag_value(&self.options.member_args, pair[0]).is_none() {
                args.extend(pair.iter().map(|a| a.to_string()));
            }
        }
        args.extend(self.options.member_args.iter().cloned());
        Launch { program: self.options.program.clone(), args, env: Vec::new() }
    }

    /// Retried while etcd calls the cluster unhealthy (it refuses to
    /// change the membership until every member has been connected for 5 s).
    fn admit(&self, members: Vec<SocketAddr>, member: &MemberSpec) -> BoxFuture<'_, Result<(), SystemError>> {
        let (id, peer_url) = (member.id, url(member.address));
        Box::pin(until_healthy(move || {
            let (members, peer_url) = (members.clone(), peer_url.clone());
            async move {
                let mut errors = Vec::new();
                for at in members {
                    let request = MemberAddRequest { peer_ur_ls: vec![peer_url.clone()], is_learner: true };
                    match ClusterClient::new(self.members.channel(at)).member_add(request).await {
                        Ok(added) => {
                            let added = added
                                .into_inner()
                                .member
                                .ok_or_else(|| SystemError(format!("MemberAdd at {at}: the answer names no member")))?;
                            self.members.ids.lock().expect("not poisoned").insert(added.id, id);
                            return Ok(());
                        }
                        Err(e) => errors.push(failed("MemberAdd", at, e).0),
                    }
                }
                Err(SystemError(errors.join("; ")))
            }
        }))
    }

    fn status(&self, at: SocketAddr) -> BoxFuture<'_, Result<MemberStatus, SystemError>> {
        Box::pin(self.members.status(at))
    }

    fn role_polls(&self) -> Option<Duration> {
        Some(ROLE_POLL)
    }

    fn election_timeout(&self) -> Option<Duration> {
        let given = flag_value(&self.options.member_args, "--election-timeout");
        let ms = given.unwrap_or(DEFAULT_TIMEOUTS[3]).parse().ok()?;
        Some(Duration::from_millis(ms))
    }

    /// Polled (see [`ROLE_POLL`] and [`RolePoll`]): an event whenever the
    /// member's role or term changes; the stream ends when the member stops
    /// answering.
    fn events(&self, at: SocketAddr) -> BoxFuture<'_, Result<BoxStream<'static, MemberEvent>, SystemError>> {
        let members = self.members.clone();
        Box::pin(async move {
            let asked = tokio::time::timeout(CALL_TIMEOUT, members.status(at)).await;
            let first = asked.map_err(|_| SystemError(format!("{at}: no status within {CALL_TIMEOUT:?}")))??;
            let mut poll = RolePoll::default();
            let first_event = poll.observe(&first, crate::cluster::wall_ns());
            let later = futures_util::stream::unfold((members, poll), move |(members, mut poll)| async move {
                loop {
                    tokio::time::sleep(ROLE_POLL).await;
                    let s = tokio::time::timeout(CALL_TIMEOUT, members.status(at)).await.ok()?.ok()?;
                    if let Some(event) = poll.observe(&s, crate::cluster::wall_ns()) {
                        return Some((event, (members, poll)));
                    }
                }
            });
            let events = futures_util::stream::iter(first_event).chain(later);
            Ok(Box::pin(events) as BoxStream<'static, MemberEvent>)
        })
    }

    fn digest(&self, at: SocketAddr) -> BoxFuture<'_, Result<Digest, SystemError>> {
        Box::pin(async move {
            // From the first key to the end of the key space, as the member
            // itself has it.
            let request = RangeRequest {
                key: Bytes::from_static(b"\0"),
                range_end: Bytes::from_static(b"\0"),
                serializable: true,
                ..Default::default()
            };
            let read =
                KvClient::new(self.members.channel(at)).range(request).await.map_err(|e| failed("Range", at, e))?;
            let read = read.into_inner();
            let revision = read.header.map_or(0, |h| h.revision);
            let mut hash = Sha256::new();
            for kv in &read.kvs {
                for part in [&kv.key[..], &kv.value[..]] {
                    hash.update((part.len() as u64).to_le_bytes());
                    hash.update(part);
                }
            }
            let hex: String = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
            Ok(Digest {
                applied: revision as u64,
                digest: format!("{} keys at revision {revision}: {hex}", read.kvs.len()),
            })
        })
    }

    fn promote(&self, members: Vec<SocketAddr>, id: NodeId) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async move {
            let target = self.members.etcd_id(&members, id).await?;
            self.members
                .on_any(&members, |channel| async move {
                    ClusterClient::new(channel).member_promote(MemberPromoteRequest { id: target }).await.map(drop)
                })
                .await
                .map_err(|e| SystemError(format!("MemberPromote: {e}")))
        })
    }

    /// Retried while etcd calls the cluster unhealthy (as [`System::admit`]).
    fn remove(&self, members: Vec<SocketAddr>, id: NodeId) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async move {
            let target = self.members.etcd_id(&members, id).await?;
            until_healthy(|| async {
                let removed = self.members.on_any(&members, |channel| async move {
                    ClusterClient::new(channel).member_remove(MemberRemoveRequest { id: target }).await.map(drop)
                });
                removed.await.map_err(|e| SystemError(format!("MemberRemove: {e}")))
            })
            .await
        })
    }

    /// MoveLeader, which only the leader serves: sent to each member in
    /// turn, the others refuse it.
    fn transfer_leader(&self, members: Vec<SocketAddr>, to: NodeId) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async move {
            let target = self.members.etcd_id(&members, to).await?;
            let moved = self.members.on_any(&members, |channel| async move {
                MaintenanceClient::new(channel).move_leader(MoveLeaderRequest { target_id: target }).await.map(drop)
            });
            moved.await.map_err(|e| SystemError(format!("MoveLeader: {e}")))
        })
    }

    fn set_fault_hooks(&self, _at: SocketAddr, _hooks: &FaultHooks) -> BoxFuture<'_, Result<(), SystemError>> {
        Box::pin(async { Err(SystemError("etcd has no fault hooks".into())) })
    }

    fn target(&self, members: &[SocketAddr]) -> loadgen::target::Target {
        loadgen::target::Target::Etcd(members.iter().map(SocketAddr::to_string).collect())
    }

    fn drop_unsynced(&self, host_data_dir: &Path) -> Result<u64, SystemError> {
        Err(SystemError(format!("{}: etcd keeps no durable-write marker", host_data_dir.display())))
    }
}

/// Runs `attempt` again while etcd refuses a membership change as
/// "unhealthy cluster", for at most [`CHANGE_FOR`].
async fn until_healthy<T, F, Fut>(mut attempt: F) -> Result<T, SystemError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SystemError>>,
{
    let deadline = tokio::time::Instant::now() + CHANGE_FOR;
    loop {
        match attempt().await {
            Err(e) if e.0.contains("unhealthy cluster") && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(RETRY).await
            }
            done => return done,
        }
    }
}

/// Turns one member's polled statuses into role events.
///
/// etcd's status reports as its term the term of the last entry it
/// applied, not Raft's current term: a new leader reports the old term
/// until the first entry of its own term is applied, and would seem to lead
/// a term another member led. Every election raises the term, so a
/// leadership counts once the member reports a term above every term it
/// reported while not leading; its event carries that term and the time
/// it was first seen leading.
#[derive(Default)]
struct RolePoll {
    last: Option<(Role, u64)>,
    /// The highest term it reported while not leading.
    highest_not_leading: u64,
    /// When a leadership not counted yet was first seen.
    leading_since: Option<u64>,
}

impl RolePoll {
    fn observe(&mut self, s: &MemberStatus, wall_ns: u64) -> Option<MemberEvent> {
        let at = if s.role == Role::Leader {
            let since = *self.leading_since.get_or_insert(wall_ns);
            if s.term <= self.highest_not_leading {
                return None;
            }
            since
        } else {
            self.highest_not_leading = self.highest_not_leading.max(s.term);
            self.leading_since = None;
            wall_ns
        };
        if self.last == Some((s.role, s.term)) {
            return None;
        }
        self.last = Some((s.role, s.term));
        let role = match s.role {
            Role::Leader => "Leader",
            Role::Follower => "Follower",
            Role::Other => "NoLeader",
        };
        Some(MemberEvent { kind: NodeEventKind::Role, role: role.into(), term: s.term, wall_ns: at })
    }
}

/// A member's status from etcd's answer, with what etcd does not say
/// filled in by the caller (`role`, `members`, `cluster`).
fn member_status(
    s: &StatusResponse,
    id: NodeId,
    role: Role,
    leader: Option<NodeId>,
    members: Vec<(NodeId, bool)>,
    cluster: String,
) -> MemberStatus {
    MemberStatus {
        id,
        role,
        term: s.raft_term,
        leader,
        applied: s.raft_applied_index,
        // etcd reports its committed index, not the last one its log holds,
        // nor its snapshots.
        last_index: s.raft_index.max(s.raft_applied_index),
        snapshot_index: 0,
        members,
        cluster,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(role: Role, term: u64) -> MemberStatus {
        let cluster = String::new();
        let (applied, last_index, snapshot_index) = (1, 1, 0);
        MemberStatus { id: 1, role, term, leader: None, applied, last_index, snapshot_index, members: vec![], cluster }
    }

    #[test]
    fn a_leadership_counts_once_the_leader_reports_a_term_above_those_it_followed_in() {
        let mut poll = RolePoll::default();
        let leader = poll.observe(&status(Role::Leader, 2), 50).unwrap();
        assert_eq!((leader.role.as_str(), leader.term), ("Leader", 2), "first seen leading: nothing to doubt");
        let follower = poll.observe(&status(Role::Follower, 2), 100).unwrap();
        assert_eq!((follower.role.as_str(), follower.term, follower.wall_ns), ("Follower", 2, 100));
        // Elected in term 3, it still reports term 2, the term of what it
        // applied last: not counted yet.
        assert!(poll.observe(&status(Role::Leader, 2), 200).is_none());
        assert!(poll.observe(&status(Role::Leader, 2), 300).is_none());
        let leader = poll.observe(&status(Role::Leader, 3), 400).unwrap();
        assert_eq!((leader.role.as_str(), leader.term, leader.wall_ns), ("Leader", 3, 200), "since first seen");
        assert!(poll.observe(&status(Role::Leader, 3), 500).is_none(), "no change, no event");
        let deposed = poll.observe(&status(Role::Other, 3), 600).unwrap();
        assert_eq!((deposed.role.as_str(), deposed.term, deposed.wall_ns), ("NoLeader", 3, 600));
    }

    #[test]
    fn the_election_timeout_is_the_last_one_the_members_are_given_or_the_harness_default() {
        let etcd = |args: &[&str]| {
            let member_args = args.iter().map(|a| a.to_string()).collect();
            Etcd::new(EtcdOptions { program: "etcd".into(), member_args }).election_timeout()
        };
        assert_eq!(etcd(&[]), Some(Duration::from_millis(500)));
        assert_eq!(etcd(&["--election-timeout", "200"]), Some(Duration::from_millis(200)));
        assert_eq!(etcd(&["--election-timeout=300", "--election-timeout", "250"]), Some(Duration::from_millis(250)));
        assert_eq!(etcd(&["--election-timeout", "250", "--election-timeout=300"]), Some(Duration::from_millis(300)));
        assert_eq!(etcd(&["--election-timeout-extra=9"]), Some(Duration::from_millis(500)), "another flag");
        assert_eq!(etcd(&["-election-timeout=150"]), Some(Duration::from_millis(150)), "Go's one-dash form");
        assert_eq!(etcd(&["--election-timeout"]), None, "given without a value: etcd refuses it");
    }

    #[test]
    fn member_names_carry_our_id_and_the_cluster_identity() {
        assert_eq!(member_name(3, "smoke-1a-2b"), "n3.smoke-1a-2b");
        assert_eq!(parse_name("n3.smoke-1a.2b"), Some((3, "smoke-1a.2b")));
        assert_eq!(parse_name(""), None, "a member not started yet has no name");
        assert_eq!(parse_name("default"), None);
    }
}
