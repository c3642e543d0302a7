//! Members as containers: one image per program (a static binary packaged
//! `FROM scratch`), one bridge network per run on a /24 of its own with a
//! fixed IP per member, the member's data directory bind-mounted from the
//! run directory so that it outlives a restart and the host can cut its
//! unsynced writes after a power cut.
//!
//! Faults: kill is SIGKILL to the container, restart starts the same
//! container again, pause is `docker pause` (the cgroup freezer), stop is
//! SIGTERM then SIGKILL. A cut from A to B is an iptables rule in A's
//! network namespace, entered from the host through A's pid (the image has
//! no tools): it drops what A sends to B's listening port, so B's own
//! connections to A (and A's answers on them) pass. A restarted container
//! has a new namespace, so its cuts and shapings are applied again when it
//! starts (a shaping with a new shaper thread in the new namespace).
//!
//! Everything is named `raftstorm-<run id>-...` and labelled with the run
//! id and the process that owns it; dropping the backend removes it all,
//! and `chaos clean` ([`clean`]) removes what a run that died left.

mod engine;
pub mod image;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use engine::Engine;
use engine::{ContainerSpec, is_subnet_taken};

use futures_util::future::BoxFuture;

use super::shaper::{self, ShapedLinks, Shapes};
use super::{
    Backend, BackendCapability, BackendError, CutMechanism, Firewall, Link, NodeId, Placement, Sender, ShapeCounts,
    ShapeId, Shaping, owner,
};
use crate::system::Launch;

/// Every container and network of a run carries it, valued with the run id.
pub const RUN_LABEL: &str = "raftstorm.run";
/// `<pid>:<start time>` of the chaos process that made it: `chaos clean`
/// leaves alone what a live run owns.
pub const OWNER_LABEL: &str = "raftstorm.owner";
/// Members' data directories, inside their containers.
const DATA_IN_CONTAINER: &str = "/data";
/// The /16 whose /24s runs take their networks from: private, and used by
/// nothing else on these machines (the host sits on 192.0.2.0/24 and
/// Docker's default bridge on 172.17.0.0/16; a /24 that a host route
/// covers is skipped anyway).
const SUBNETS: [u8; 2] = [10, 213];
/// How long a stopped member gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct DockerOptions {
    /// Data directories (bind-mounted) and logs go here.
    pub run_dir: PathBuf,
    /// The port every member listens on for clients, each on its own IP...
    pub port: u16,
    /// ... and for its peers: the same port for a system that serves both
    /// on one.
    pub peer_port: u16,
    /// Cuts also drop what a member sends from its peer port (see
    /// `ProcessOptions::cut_accepted`).
    pub cut_accepted: bool,
}

struct Member {
    container: String,
    /// The cut chain in the container's current network namespace; none
    /// while it is down (each start makes a new namespace).
    firewall: Option<Firewall>,
    logs: Option<tokio::task::JoinHandle<()>>,
}

pub struct DockerBackend {
    engine: Engine,
    options: DockerOptions,
    run_id: String,
    network: String,
    /// a.b.c.0: member `id` gets a.b.c.(1 + id).
    subnet: Ipv4Addr,
    members: BTreeMap<NodeId, Member>,
    /// Every cut in force, as (from, to): applied again when `from` starts.
    cuts: BTreeSet<(NodeId, NodeId)>,
    /// Shaped links in force, by id.
    shapes: Shapes,
    /// Images by program, built once per run at most.
    images: HashMap<PathBuf, String>,
}

static NEXT_RUN: AtomicU32 = AtomicU32::new(0);

/// (network, mask) of every route the host has, default route aside.
fn host_routes() -> Vec<(u32, u32)> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Little-endian hex, as the kernel prints them.
            let parse = |f: &str| u32::from_str_radix(f, 16).ok().map(u32::from_be);
            Some((parse(fields.get(1)?)?, parse(fields.get(7)?)?))
        })
        .filter(|&(_, mask)| mask != 0)
        .collect()
}

/// Whether a host route covers any of `subnet`/24.
fn routed_on_host(subnet: Ipv4Addr, routes: &[(u32, u32)]) -> bool {
    let (net, mask) = (u32::from(subnet), 0xffff_ff00u32);
    routes.iter().any(|&(r, r_mask)| {
        let common = mask & r_mask;
        net & common == r & common
    })
}

impl DockerBackend {
    /// Connects to Docker and makes the run's network. The error is one
    /// line: Docker missing or down, no free subnet...
    pub async fn new(mut options: DockerOptions) -> Result<DockerBackend, BackendError> {
        std::fs::create_dir_all(&options.run_dir)?;
        // Docker takes a relative bind-mount source for a volume name.
        options.run_dir = std::path::absolute(&options.run_dir)?;
        let engine = Engine::connect().await?;
        let n = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let stamp = crate::cluster::wall_ns() / 1_000_000_000;
        let run_id = format!("{:x}-{}-{n}", stamp, std::process::id());
        let network = format!("raftstorm-{run_id}");
        let subnet = Self::create_network(&engine, &network, &run_id).await?;
        Ok(DockerBackend {
            engine,
            options,
            run_id,
            network,
            subnet,
            members: BTreeMap::new(),
            cuts: BTreeSet::new(),
            shapes: Shapes::default(),
            images: HashMap::new(),
        })
    }

    /// Takes the first /24 of [`SUBNETS`] that no host route covers and
    /// Docker gives: it refuses one another network has, which is how
    /// parallel runs stay apart. Starts from a place the run id picks, so
    /// that runs rarely contend for the same one.
    async fn create_network(engine: &Engine, name: &str, run_id: &str) -> Result<Ipv4Addr, BackendError> {
        let routes = host_routes();
        let first = run_id.bytes().fold(0u8, |h, b| h.wrapping_mul(31).wrapping_add(b));
        for i in 0..=255u8 {
            let subnet = Ipv4Addr::new(SUBNETS[0], SUBNETS[1], first.wrapping_add(i), 0);
            if routed_on_host(subnet, &routes) {
                continue;
            }
            match engine.create_network(name, subnet, labels(run_id)).await {
                Ok(()) => return Ok(subnet),
                Err(e) if is_subnet_taken(&e) => continue,
                Err(e) => return Err(BackendError::Docker(format!("docker: creating network {name}: {e}"))),
            }
        }
        let [a, b] = SUBNETS;
        Err(BackendError::Docker(format!(
            "docker: every /24 of {a}.{b}.0.0/16 is taken; `chaos clean` frees those of dead runs"
        )))
    }

    /// The run id in every name and label.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn network(&self) -> &str {
        &self.network
    }

    pub fn container(&self, id: NodeId) -> String {
        format!("raftstorm-{}-node-{id}", self.run_id)
    }

    pub fn ip(&self, id: NodeId) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet) + 1 + id as u32)
    }

    /// Where member `id` listens for clients; the host reaches it there too.
    pub fn address(&self, id: NodeId) -> SocketAddr {
        SocketAddr::new(self.ip(id).into(), self.options.port)
    }

    /// Where member `id` listens for its peers.
    pub fn peer_address(&self, id: NodeId) -> SocketAddr {
        SocketAddr::new(self.ip(id).into(), self.options.peer_port)
    }

    /// The link from `from` to `to`: each container has an address of its
    /// own, which its connections leave from.
    fn link(&self, from: NodeId, to: NodeId) -> Link {
        let accepted = self.options.cut_accepted;
        Link {
            from: Sender::Address(self.ip(from)),
            to: self.ip(to),
            port: self.options.peer_port,
            accepted,
            to_user: None,
        }
    }

    /// Its data directory on the host.
    pub fn host_data_dir(&self, id: NodeId) -> PathBuf {
        self.options.run_dir.join(format!("node-{id}"))
    }

    fn member(&self, id: NodeId) -> Result<&Member, BackendError> {
        self.members.get(&id).ok_or(BackendError::UnknownNode(id))
    }

    /// Starts the member's container, follows its log and puts its cuts
    /// in its new network namespace; false if it exited at once (its log
    /// says why).
    async fn boot(&mut self, id: NodeId) -> Result<bool, BackendError> {
        let container = self.member(id)?.container.clone();
        self.engine.start(&container).await?;
        let logs = self.engine.follow_logs(&container, &self.log_path(id));
        let member = self.members.get_mut(&id).ok_or(BackendError::UnknownNode(id))?;
        if let Some(old) = member.logs.replace(logs) {
            old.abort();
        }
        let Some(pid) = self.engine.pid(&container).await? else { return Ok(false) };
        match self.firewall_with_cuts(id, pid).and_then(|firewall| {
            self.shapes.start(id, &firewall)?;
            Ok(firewall)
        }) {
            Ok(firewall) => {
                self.members.get_mut(&id).ok_or(BackendError::UnknownNode(id))?.firewall = Some(firewall);
                Ok(true)
            }
            // A member that refuses to start exits within milliseconds,
            // its namespace with it, maybe while its rules went in. Docker
            // may call it running for a moment after its process is gone.
            Err(_) if !has_netns(pid) || !self.running(id).await? => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A cut chain in the namespace of process `pid`, holding `id`'s cuts.
    fn firewall_with_cuts(&self, id: NodeId, pid: u32) -> Result<Firewall, BackendError> {
        let firewall = Firewall::in_netns_of(pid)?;
        for &(from, to) in self.cuts.range((id, 0)..=(id, NodeId::MAX)) {
            firewall.cut(&self.link(from, to))?;
        }
        Ok(firewall)
    }

    /// The network namespaces of members that went down went with them,
    /// and their rules too.
    fn forget_namespaces(&mut self, ids: &[NodeId]) {
        for id in ids {
            if let Some(member) = self.members.get_mut(id) {
                member.firewall = None;
            }
        }
    }

    /// The cut chain of `id`'s namespace while its container runs; a
    /// container that exited by itself (a member that refused to start, or
    /// aborted at a failpoint) took its namespace with it.
    async fn live_firewall(&mut self, id: NodeId) -> Result<Option<&Firewall>, BackendError> {
        if !self.running(id).await? {
            self.forget_namespaces(&[id]);
        }
        Ok(self.member(id)?.firewall.as_ref())
    }

    /// Whether the container runs (a paused one does).
    async fn running(&self, id: NodeId) -> Result<bool, BackendError> {
        Ok(self.engine.pid(&self.member(id)?.container).await?.is_some())
    }

    /// Packets `from`'s cuts dropped so far (0 while it is down).
    pub fn dropped_packets(&self, from: NodeId) -> Result<u64, BackendError> {
        self.member(from)?.firewall.as_ref().map_or(Ok(0), Firewall::dropped_packets)
    }

    /// The engine, for callers that need another call (tests).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn capabilities(&self) -> BTreeSet<BackendCapability> {
        let mut caps =
            BTreeSet::from([BackendCapability::PacketCuts, BackendCapability::Pause, BackendCapability::HostDataDir]);
        if shaper::available() {
            caps.insert(BackendCapability::PacketShaping);
        }
        caps
    }

    fn cut_mechanism(&self) -> Option<CutMechanism> {
        Some(CutMechanism::Iptables)
    }

    fn place(&mut self, id: NodeId) -> Result<Placement, BackendError> {
        if id > 250 {
            return Err(BackendError::Action { id, action: "place", why: "ids above 250 do not fit a /24".into() });
        }
        Ok(Placement {
            harness_address: self.address(id),
            client_address: self.address(id),
            peer_address: self.peer_address(id),
            data_dir: PathBuf::from(DATA_IN_CONTAINER),
            host_data_dir: Some(self.host_data_dir(id)),
        })
    }

    /// Creates and starts the member's container; its program (a static
    /// binary) is packaged into an image the first time.
    fn start<'a>(&'a mut self, id: NodeId, launch: &'a Launch) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let image = match self.images.get(&launch.program) {
                Some(tag) => tag.clone(),
                None => {
                    let (tag, _) = image::ensure(&self.engine, &launch.program).await?;
                    self.images.insert(launch.program.clone(), tag.clone());
                    tag
                }
            };
            let host_dir = self.host_data_dir(id);
            std::fs::create_dir_all(&host_dir)?;
            let spec = ContainerSpec {
                name: self.container(id),
                image,
                args: launch.args.clone(),
                env: launch.env.clone(),
                labels: labels(&self.run_id),
                network: self.network.clone(),
                ip: self.ip(id),
                bind: (host_dir, PathBuf::from(DATA_IN_CONTAINER)),
            };
            // Known before it exists, so that a run cut short while the
            // container is being created still removes it.
            self.members.insert(id, Member { container: spec.name.clone(), firewall: None, logs: None });
            self.engine.create_container(&spec).await?;
            if self.boot(id).await? {
                return Ok(());
            }
            let why = format!("{} exited at once; see {}", spec.name, self.log_path(id).display());
            Err(BackendError::Action { id, action: "start", why })
        })
    }

    fn kill<'a>(&'a mut self, ids: &'a [NodeId]) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let mut containers = Vec::new();
            for &id in ids {
                if self.running(id).await? {
                    containers.push(self.member(id)?.container.clone());
                }
            }
            // All at once: Docker answers a SIGKILL only once its container
            // is gone, and none should see another die before it is hit.
            let engine = &self.engine;
            let kills = futures_util::future::join_all(containers.iter().map(|c| engine.kill(c))).await;
            kills.into_iter().collect::<Result<Vec<()>, _>>()?;
            for c in &containers {
                engine.wait_stopped(c, Duration::from_secs(10)).await?;
            }
            self.forget_namespaces(ids);
            Ok(())
        })
    }

    fn stop(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            if !self.running(id).await? {
                return Ok(());
            }
            let container = self.member(id)?.container.clone();
            self.engine.stop(&container, STOP_GRACE).await?;
            self.engine.wait_stopped(&container, STOP_GRACE + Duration::from_secs(5)).await?;
            self.forget_namespaces(&[id]);
            Ok(())
        })
    }

    fn restart(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            if self.running(id).await? {
                return Ok(());
            }
            self.forget_namespaces(&[id]);
            // A member that exits at once on a restart (it refused its data,
            // say) is the run's to judge, by its log, not a backend failure.
            self.boot(id).await.map(drop)
        })
    }

    fn pause(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.engine.pause(&self.member(id)?.container).await })
    }

    fn resume(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.engine.unpause(&self.member(id)?.container).await })
    }

    /// Kept, and applied again whenever `from` starts.
    fn cut(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.member(to)?;
            if !self.cuts.insert((from, to)) {
                return Ok(());
            }
            let link = self.link(from, to);
            match self.live_firewall(from).await? {
                Some(fw) => fw.cut(&link),
                None => Ok(()),
            }
        })
    }

    fn uncut(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            if !self.cuts.remove(&(from, to)) {
                return Ok(());
            }
            let link = self.link(from, to);
            match self.live_firewall(from).await? {
                Some(fw) => fw.uncut(&link),
                None => Ok(()),
            }
        })
    }

    fn heal(&mut self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.cuts.clear();
            let ids: Vec<NodeId> = self.members.keys().copied().collect();
            for id in ids {
                if let Some(fw) = self.live_firewall(id).await? {
                    fw.heal()?;
                }
            }
            Ok(())
        })
    }

    /// Shapes in the senders' namespaces, and, as a cut, again in a
    /// sender's new namespace whenever it starts (with a new shaper there).
    fn shape<'a>(
        &'a mut self,
        links: &'a [(NodeId, NodeId)],
        shaping: &'a Shaping,
        seed: u64,
    ) -> BoxFuture<'a, Result<ShapeId, BackendError>> {
        Box::pin(async move {
            for &(from, to) in links {
                self.member(to)?;
                self.live_firewall(from).await?;
            }
            let links = links.iter().map(|&(from, to)| {
                let fw = self.members.get(&from).and_then(|m| m.firewall.as_ref());
                (from, fw, self.link(from, to))
            });
            let shaped = ShapedLinks::new(links.collect(), shaping, seed)?;
            Ok(self.shapes.add(shaped))
        })
    }

    fn shape_counts(&self, id: ShapeId) -> ShapeCounts {
        self.shapes.counts(id)
    }

    fn unshape(&mut self, id: ShapeId) -> BoxFuture<'_, Result<ShapeCounts, BackendError>> {
        Box::pin(async move {
            let ids: Vec<NodeId> = self.members.keys().copied().collect();
            for id in ids {
                self.live_firewall(id).await?;
            }
            let firewalls: Vec<&Firewall> = self.members.values().filter_map(|m| m.firewall.as_ref()).collect();
            self.shapes.remove(id, |chain| firewalls.iter().copied().find(|f| f.chain() == chain))
        })
    }

    /// Tried from inside `from`'s network namespace.
    fn probe(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<Option<Duration>, BackendError>> {
        Box::pin(async move {
            let container = self.member(from)?.container.clone();
            let Some(pid) = self.engine.pid(&container).await? else {
                return Err(BackendError::Action { id: from, action: "probe", why: "not running".into() });
            };
            connects_from_netns_of(pid, self.peer_address(to)).await
        })
    }

    fn log_path(&self, id: NodeId) -> PathBuf {
        self.options.run_dir.join(format!("node-{id}.log"))
    }

    fn is_running(&mut self, id: NodeId) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.running(id).await.unwrap_or(false) })
    }
}

fn labels(run_id: &str) -> HashMap<String, String> {
    HashMap::from([(RUN_LABEL.to_string(), run_id.to_string()), (OWNER_LABEL.to_string(), owner::this_process())])
}

/// Whether process `pid` still has a network namespace to enter: not once
/// it exited, even before it is reaped or Docker notices.
fn has_netns(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}/ns/net")).exists()
}

/// A TCP connect to `to` from inside the network namespace of process
/// `pid`, on a thread of its own: setns(2) moves only the calling thread,
/// and that thread ends after the one try, so no other code runs there.
async fn connects_from_netns_of(pid: u32, to: SocketAddr) -> Result<Option<Duration>, BackendError> {
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    let what = format!("entering the network namespace of pid {pid}");
    super::connects_from_own_thread(what, to, move || super::enter_netns(&netns)).await
}

impl Drop for DockerBackend {
    /// Removes the run's containers and network, whatever happened: on a
    /// fresh thread with a runtime and a connection of its own, as this may
    /// run inside the runner's runtime, while it unwinds or shuts down.
    fn drop(&mut self) {
        for member in self.members.values_mut() {
            if let Some(logs) = member.logs.take() {
                logs.abort();
            }
            member.firewall = None;
        }
        let known: Vec<String> = self.members.values().map(|m| m.container.clone()).collect();
        let (network, run_id) = (self.network.clone(), self.run_id.clone());
        let removal = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let engine = Engine::connect().await?;
                let mut outcome = Ok(());
                // The members known, then whatever carries the run's label: a
                // container whose creation was under way when the run was cut
                // short (Ctrl-C, SIGTERM) may exist by now. Tried again while
                // the network still has a container on it.
                for sweep in 0..3 {
                    if sweep > 0 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    let labelled = engine.containers_labelled(RUN_LABEL).await?;
                    let ours = labelled.into_iter().filter(|(_, run)| *run == run_id).map(|(name, _)| name);
                    let containers: BTreeSet<String> = known.iter().cloned().chain(ours).collect();
                    // Each one tried, whatever happened to the one before.
                    outcome = Ok(());
                    for c in &containers {
                        outcome = outcome.and(engine.remove_container(c).await);
                    }
                    outcome = outcome.and(engine.remove_network(&network).await);
                    if outcome.is_ok() {
                        break;
                    }
                }
                outcome
            })
        });
        match removal.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: cleaning up docker run {}: {e}; `chaos clean` removes it", self.run_id),
            Err(_) => eprintln!("warning: cleaning up docker run {} panicked; `chaos clean` removes it", self.run_id),
        }
    }
}

/// What `chaos clean` did.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    /// Runs left alone because the chaos process that owns them still runs.
    pub live_runs: BTreeSet<String>,
}

/// Removes the containers and networks of every run whose chaos process is
/// gone (found by label). Cut rules live in the containers' namespaces and
/// go with them; members' data is bind-mounted, so there are no volumes.
pub async fn clean(engine: &Engine) -> Result<Cleaned, BackendError> {
    let mut cleaned = Cleaned::default();
    let owners: HashMap<String, String> = engine.containers_labelled(OWNER_LABEL).await?.into_iter().collect();
    let runs: HashMap<String, String> = engine.containers_labelled(RUN_LABEL).await?.into_iter().collect();
    for (container, run) in runs {
        if owners.get(&container).is_some_and(|o| owner::alive(o)) {
            cleaned.live_runs.insert(run);
            continue;
        }
        engine.remove_container(&container).await?;
        cleaned.containers.push(container);
    }
    let owners: HashMap<String, String> = engine.networks_labelled(OWNER_LABEL).await?.into_iter().collect();
    for (network, run) in engine.networks_labelled(RUN_LABEL).await? {
        if owners.get(&network).is_some_and(|o| owner::alive(o)) {
            cleaned.live_runs.insert(run);
            continue;
        }
        engine.remove_network(&network).await?;
        cleaned.networks.push(network);
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that exited has no namespace to enter, reaped or not (a
    /// zombie's /proc entry outlives its namespaces).
    #[test]
    fn an_exited_process_has_no_network_namespace_even_as_a_zombie() {
        assert!(has_netns(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let state = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !state().contains(") Z ") {
            assert!(std::time::Instant::now() < deadline, "`true` did not exit within 30 s: {}", state());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!has_netns(pid), "a zombie");
        child.wait().unwrap();
        assert!(!has_netns(pid), "reaped");
    }

    #[test]
    fn a_subnet_under_a_host_route_is_skipped() {
        let route = |net: [u8; 4], bits: u32| (u32::from(Ipv4Addr::from(net)), u32::MAX << (32 - bits));
        let routes = [route([10, 213, 4, 0], 24), route([10, 0, 0, 0], 16), route([192, 168, 0, 0], 16)];
        assert!(routed_on_host(Ipv4Addr::new(10, 213, 4, 0), &routes));
        assert!(!routed_on_host(Ipv4Addr::new(10, 213, 5, 0), &routes));
        // A /25 route inside the /24 overlaps it too.
        assert!(routed_on_host(Ipv4Addr::new(10, 213, 9, 0), &[route([10, 213, 9, 128], 25)]));
        assert!(routed_on_host(Ipv4Addr::new(10, 0, 7, 0), &routes));
    }

    #[test]
    fn the_host_routing_table_is_read_in_network_order() {
        // Every machine here has a route for its own interface and one for
        // Docker's bridge; a mask read in the wrong byte order would not be
        // contiguous.
        let routes = host_routes();
        assert!(!routes.is_empty(), "no routes read from /proc/net/route");
        for (_, mask) in routes {
            assert_eq!(mask.leading_ones() + mask.trailing_zeros(), 32, "{mask:08x}");
        }
    }
}
