//! Members as local processes on 127.0.0.x addresses, one address each, so
//! that iptables can tell their links apart. A system whose members do not
//! send from their own address (etcd) has each member run as a user of its
//! own (uid [`MEMBER_UID_BASE`] + the last byte of its address) when cuts
//! are made, and the rules match that user instead.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::shaper::{self, ShapedLinks, Shapes};
use super::{
    Backend, BackendCapability, BackendError, CutMechanism, Firewall, Link, NodeId, Placement, Sender, ShapeCounts,
    ShapeId, Shaping, owner,
};

/// Member users' ids start here (see the module docs): far above the
/// machine's own users.
pub const MEMBER_UID_BASE: u32 = 61000;
use crate::system::Launch;

#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// Data directories and logs go here.
    pub run_dir: PathBuf,
    /// Node `id` gets 127.0.0.(ip_base + id); distinct bases keep parallel
    /// runs apart.
    pub ip_base: u8,
    /// Where members listen for clients...
    pub port: u16,
    /// ... and for their peers: the same port for a system that serves
    /// both on one.
    pub peer_port: u16,
    /// Cuts also drop what a member sends from its peer port, for a system
    /// whose members send over connections their peers opened
    /// ([`crate::system::System::sends_over_accepted_connections`]).
    pub cut_accepted: bool,
    /// Whether members' connections leave from their own address
    /// ([`crate::system::System::sends_from_its_address`]); if not, each
    /// runs as its own user, for the cuts to tell them apart.
    pub sends_from_own_address: bool,
    /// Cut links with iptables when available (root, the tool installed);
    /// otherwise the backend cannot cut, and partitions fall to the
    /// system's fault hooks.
    pub use_iptables: bool,
}

struct ProcNode {
    child: Option<Child>,
    launch: Launch,
}

pub struct ProcessBackend {
    options: ProcessOptions,
    nodes: BTreeMap<NodeId, ProcNode>,
    /// Shaped links in force, by id; dropped (their shapers stopped) before
    /// the firewall that holds their rules.
    shapes: Shapes,
    firewall: Option<Firewall>,
}

impl ProcessBackend {
    pub fn new(options: ProcessOptions) -> Result<ProcessBackend, BackendError> {
        let firewall = if options.use_iptables && Firewall::available() { Some(Firewall::new()?) } else { None };
        Ok(ProcessBackend { options, nodes: BTreeMap::new(), shapes: Shapes::default(), firewall })
    }

    pub fn firewall(&self) -> Option<&Firewall> {
        self.firewall.as_ref()
    }

    /// The firewall that cuts and shapes links, or why there is none.
    fn cutting_firewall(&self) -> Result<&Firewall, BackendError> {
        self.firewall.as_ref().ok_or(BackendError::Firewall("no iptables here".into()))
    }

    fn ip(&self, id: NodeId) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, self.options.ip_base.saturating_add(id as u8))
    }

    fn data_dir(&self, id: NodeId) -> PathBuf {
        self.options.run_dir.join(format!("node-{id}"))
    }

    /// The user member `id` runs as, when each has its own.
    fn user(&self, id: NodeId) -> Option<u32> {
        let own_users = self.firewall.is_some() && !self.options.sends_from_own_address;
        own_users.then(|| MEMBER_UID_BASE + u32::from(self.ip(id).octets()[3]))
    }

    fn link(&self, from: NodeId, to: NodeId) -> Link {
        let sender = self.user(from).map_or(Sender::Address(self.ip(from)), Sender::User);
        let (port, accepted) = (self.options.peer_port, self.options.cut_accepted);
        Link { from: sender, to: self.ip(to), port, accepted, to_user: self.user(to) }
    }

    fn spawn(&mut self, id: NodeId) -> Result<(), BackendError> {
        std::fs::create_dir_all(&self.options.run_dir)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path(id))?;
        let user = self.user(id);
        if let Some(uid) = user {
            give_data_dir(&self.data_dir(id), uid)?;
            if let Some(fw) = &self.firewall {
                fw.mark_dials(uid)?;
            }
        }
        let node = self.nodes.get_mut(&id).ok_or(BackendError::UnknownNode(id))?;
        let mut command = Command::new(&node.launch.program);
        if let Some(uid) = user {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(uid);
        }
        let child = command
            .args(&node.launch.args)
            .envs(node.launch.env.iter().map(|(k, v)| (k, v)))
            // So that `chaos clean` finds it if this process is killed.
            .env(owner::OWNER_ENV, owner::this_process())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                let why = format!("{}: {e}", node.launch.program.display());
                BackendError::Action { id, action: "start", why }
            })?;
        node.child = Some(child);
        Ok(())
    }

    fn signal(&self, id: NodeId, signal: i32, action: &'static str) -> Result<(), BackendError> {
        let node = self.nodes.get(&id).ok_or(BackendError::UnknownNode(id))?;
        let child = node.child.as_ref().ok_or(BackendError::Action { id, action, why: "not running".into() })?;
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(child.id() as i32, signal) };
        if rc != 0 {
            return Err(BackendError::Action { id, action, why: std::io::Error::last_os_error().to_string() });
        }
        Ok(())
    }

    /// Whether the child runs, reaping it if it exited.
    fn running(&mut self, id: NodeId) -> bool {
        let Some(node) = self.nodes.get_mut(&id) else { return false };
        let exited = node.child.as_mut().is_none_or(|c| !matches!(c.try_wait(), Ok(None)));
        if exited {
            node.child = None;
        }
        !exited
    }

    fn reap(&mut self, id: NodeId) -> Result<(), BackendError> {
        let node = self.nodes.get_mut(&id).ok_or(BackendError::UnknownNode(id))?;
        if let Some(mut child) = node.child.take() {
            child.wait()?;
        }
        Ok(())
    }
}

impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> BTreeSet<BackendCapability> {
        let mut caps = BTreeSet::from([BackendCapability::Pause, BackendCapability::HostDataDir]);
        if self.firewall.is_some() {
            caps.insert(BackendCapability::PacketCuts);
            if shaper::available() {
                caps.insert(BackendCapability::PacketShaping);
            }
        }
        caps
    }

    fn cut_mechanism(&self) -> Option<CutMechanism> {
        self.firewall.as_ref().map(|_| CutMechanism::Iptables)
    }

    fn place(&mut self, id: NodeId) -> Result<Placement, BackendError> {
        let address = SocketAddr::new(self.ip(id).into(), self.options.port);
        let data_dir = self.data_dir(id);
        Ok(Placement {
            harness_address: address,
            client_address: address,
            peer_address: SocketAddr::new(self.ip(id).into(), self.options.peer_port),
            host_data_dir: Some(data_dir.clone()),
            data_dir,
        })
    }

    fn start<'a>(&'a mut self, id: NodeId, launch: &'a Launch) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.nodes.insert(id, ProcNode { child: None, launch: launch.clone() });
            self.spawn(id)
        })
    }

    fn kill<'a>(&'a mut self, ids: &'a [NodeId]) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            // Signal every one before waiting for any: the first to die must
            // not leave the others time to act on it.
            for &id in ids {
                if self.running(id) {
                    self.signal(id, libc::SIGKILL, "kill")?;
                }
            }
            for &id in ids {
                self.reap(id)?;
            }
            Ok(())
        })
    }

    fn stop(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            if !self.running(id) {
                return Ok(());
            }
            self.signal(id, libc::SIGTERM, "stop")?;
            for _ in 0..250 {
                if !self.running(id) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.kill(&[id]).await
        })
    }

    fn restart(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { if self.running(id) { Ok(()) } else { self.spawn(id) } })
    }

    fn pause(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.signal(id, libc::SIGSTOP, "pause") })
    }

    fn resume(&mut self, id: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.signal(id, libc::SIGCONT, "resume") })
    }

    fn cut(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let fw = self.cutting_firewall()?;
            fw.cut(&self.link(from, to))
        })
    }

    fn uncut(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let fw = self.cutting_firewall()?;
            fw.uncut(&self.link(from, to))
        })
    }

    fn heal(&mut self) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.firewall.as_ref().map_or(Ok(()), Firewall::heal) })
    }

    fn shape<'a>(
        &'a mut self,
        links: &'a [(NodeId, NodeId)],
        shaping: &'a Shaping,
        seed: u64,
    ) -> BoxFuture<'a, Result<ShapeId, BackendError>> {
        Box::pin(async move {
            let fw = self.cutting_firewall()?;
            // One firewall, the host's, for every sender: one shaper.
            let links = links.iter().map(|&(from, to)| (0, Some(fw), self.link(from, to))).collect();
            let shaped = ShapedLinks::new(links, shaping, seed)?;
            Ok(self.shapes.add(shaped))
        })
    }

    fn shape_counts(&self, id: ShapeId) -> ShapeCounts {
        self.shapes.counts(id)
    }

    fn unshape(&mut self, id: ShapeId) -> BoxFuture<'_, Result<ShapeCounts, BackendError>> {
        Box::pin(async move { self.shapes.remove(id, |_| self.firewall.as_ref()) })
    }

    fn probe(&mut self, from: NodeId, to: NodeId) -> BoxFuture<'_, Result<Option<Duration>, BackendError>> {
        Box::pin(async move {
            let to = SocketAddr::new(self.ip(to).into(), self.options.peer_port);
            if let Some(uid) = self.user(from) {
                return connects_as(uid, to).await;
            }
            let socket = tokio::net::TcpSocket::new_v4()?;
            // From `from`'s own address, as its peer connections leave.
            socket.bind(SocketAddr::new(self.ip(from).into(), 0))?;
            let start = std::time::Instant::now();
            let connected = tokio::time::timeout(super::PROBE_TIMEOUT, socket.connect(to)).await;
            Ok(matches!(connected, Ok(Ok(_))).then(|| start.elapsed()))
        })
    }

    fn log_path(&self, id: NodeId) -> PathBuf {
        self.options.run_dir.join(format!("node-{id}.log"))
    }

    fn is_running(&mut self, id: NodeId) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.running(id) })
    }
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                // SIGKILL ends a stopped (paused) process too.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Makes a member's data directory its user's (and only its: etcd wants
/// 0700).
fn give_data_dir(dir: &std::path::Path, uid: u32) -> Result<(), BackendError> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: chown(2) on a NUL-terminated path we own.
    if unsafe { libc::chown(path.as_ptr(), uid, uid) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// A TCP connect to `to` by a socket that user `uid` owns, as the member
/// running as that user would make it: on a thread of its own that takes
/// the user as its effective one (setresuid(2) as a raw system call moves
/// only the calling thread), and ends after the one try.
async fn connects_as(uid: u32, to: SocketAddr) -> Result<Option<Duration>, BackendError> {
    super::connects_from_own_thread(format!("probing as user {uid}"), to, move || {
        let keep = libc::uid_t::MAX;
        // SAFETY: setresuid(2) on this thread only (the raw call, not
        // glibc's wrapper that changes every thread); the saved user stays
        // root, and the thread ends after the connect.
        if unsafe { libc::syscall(libc::SYS_setresuid, keep, uid, keep) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    })
    .await
}

/// SIGKILLs every member process whose chaos process is gone (found by the
/// owner in its environment); returns their pids.
pub(super) fn kill_orphans() -> Result<Vec<u32>, BackendError> {
    let mut killed = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        if owner::of_process(pid).is_some_and(|o| !owner::alive(&o)) {
            // SAFETY: kill(2) on a pid just read from /proc; at worst it has
            // exited since, and the call fails.
            if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                killed.push(pid);
            }
        }
    }
    Ok(killed)
}
