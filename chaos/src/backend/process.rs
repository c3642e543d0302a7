//! Nodes as local `raft-node` processes on 127.0.0.x addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Backend, BackendError, CutMechanism, Firewall, NodeId};

#[derive(Clone, Debug)]
pub struct ProcessOptions {
    pub binary: PathBuf,
    /// Data directories and logs go here.
    pub run_dir: PathBuf,
    /// Node `id` gets 127.0.0.(ip_base + id); distinct bases keep parallel
    /// runs apart.
    pub ip_base: u8,
    pub port: u16,
    /// Flags given to every node (timeouts, planted bugs...).
    pub node_args: Vec<String>,
    pub admin_token: Option<String>,
    /// Use iptables when available; otherwise (or when false) the nodes'
    /// admin fault hooks.
    pub use_iptables: bool,
}

struct ProcNode {
    child: Option<Child>,
    args: Vec<String>,
}

pub struct ProcessBackend {
    options: ProcessOptions,
    nodes: BTreeMap<NodeId, ProcNode>,
    firewall: Option<Firewall>,
    /// What each node's admin fault hooks are set to.
    hooks: BTreeMap<NodeId, Hooks>,
}

/// A node's admin fault hooks: one call sets them all.
#[derive(Clone, Default)]
struct Hooks {
    /// Peers it drops messages to (cuts when iptables is not used).
    drop_to: BTreeSet<NodeId>,
    clock_skew_ppm: i64,
    disk_delay_ms: u64,
}

impl ProcessBackend {
    pub fn new(options: ProcessOptions) -> Result<ProcessBackend, BackendError> {
        std::fs::create_dir_all(&options.run_dir)?;
        let firewall = if options.use_iptables && Firewall::available() { Some(Firewall::new()?) } else { None };
        Ok(ProcessBackend { options, nodes: BTreeMap::new(), firewall, hooks: BTreeMap::new() })
    }

    pub fn mechanism(&self) -> CutMechanism {
        if self.firewall.is_some() { CutMechanism::Iptables } else { CutMechanism::AdminHooks }
    }

    pub fn firewall(&self) -> Option<&Firewall> {
        self.firewall.as_ref()
    }

    fn ip(&self, id: NodeId) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, self.options.ip_base.saturating_add(id as u8))
    }

    fn data_dir(&self, id: NodeId) -> PathBuf {
        self.options.run_dir.join(format!("node-{id}"))
    }

    fn spawn(&mut self, id: NodeId) -> Result<(), BackendError> {
        let node = self.nodes.get_mut(&id).ok_or(BackendError::UnknownNode(id))?;
        let log_path = self.options.run_dir.join(format!("node-{id}.log"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let child = Command::new(&self.options.binary)
            .args(&node.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| BackendError::Action { id, action: "start", why: e.to_string() })?;
        node.child = Some(child);
        // A new process starts with its fault hooks cleared.
        self.hooks.remove(&id);
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

    /// Sends a node its hooks as recorded. A node not running has nothing
    /// to send to, and comes back with its hooks cleared anyway.
    fn set_hooks(&self, id: NodeId) -> Result<(), BackendError> {
        if !self.is_running(id) {
            return Ok(());
        }
        let hooks = self.hooks.get(&id).cloned().unwrap_or_default();
        let drop_to: Vec<u64> = hooks.drop_to.into_iter().collect();
        let address = self.address(id).to_string();
        let token = self.options.admin_token.clone();
        // On a thread of its own, so this works whether or not the caller
        // runs inside an async runtime.
        let call = std::thread::spawn(move || -> Result<(), String> {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let client = node::client::Client::new(vec![address.clone()], token);
                let (skew, delay) = (hooks.clock_skew_ppm, hooks.disk_delay_ms);
                client.set_faults(&address, drop_to, Vec::new(), skew, delay).await.map_err(|e| e.to_string())
            })
        });
        call.join()
            .map_err(|_| "the fault-hook call panicked".to_string())
            .and_then(|r| r)
            .map_err(|why| BackendError::Action { id, action: "set fault hooks", why })
    }
}

impl Backend for ProcessBackend {
    fn address(&self, id: NodeId) -> SocketAddr {
        SocketAddr::new(self.ip(id).into(), self.options.port)
    }

    fn start(&mut self, id: NodeId, peers: &[NodeId], join: Option<NodeId>) -> Result<(), BackendError> {
        let data = self.data_dir(id);
        let mut args = vec![
            "--id".to_string(),
            id.to_string(),
            "--listen".into(),
            self.address(id).to_string(),
            "--data".into(),
            data.to_string_lossy().into_owned(),
            // So that `power_loss` knows what a power cut would take.
            "--track-durable-writes".into(),
        ];
        match join {
            Some(through) => args.extend(["--join".into(), self.address(through).to_string()]),
            None => {
                let list: Vec<String> = peers.iter().map(|p| format!("{p}={}", self.address(*p))).collect();
                args.extend(["--peers".into(), list.join(",")]);
            }
        }
        if let Some(token) = &self.options.admin_token {
            args.extend(["--admin-token".into(), token.clone()]);
        }
        args.extend(self.options.node_args.iter().cloned());
        self.nodes.insert(id, ProcNode { child: None, args });
        self.spawn(id)
    }

    fn kill(&mut self, id: NodeId) -> Result<(), BackendError> {
        let node = self.nodes.get_mut(&id).ok_or(BackendError::UnknownNode(id))?;
        if let Some(mut child) = node.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    fn stop(&mut self, id: NodeId) -> Result<(), BackendError> {
        if !self.is_running(id) {
            return Ok(());
        }
        self.signal(id, libc::SIGTERM, "stop")?;
        let node = self.nodes.get_mut(&id).ok_or(BackendError::UnknownNode(id))?;
        let child = node.child.as_mut().expect("running");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                node.child = None;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill(id)
    }

    fn restart(&mut self, id: NodeId) -> Result<(), BackendError> {
        if self.is_running(id) {
            return Ok(());
        }
        self.spawn(id)
    }

    fn power_loss(&mut self, ids: &[NodeId]) -> Result<Vec<String>, BackendError> {
        // Signal every node before waiting for any: the first to die must
        // not leave the others time to sync what it sent them.
        for &id in ids {
            if self.is_running(id) {
                self.signal(id, libc::SIGKILL, "power cut")?;
            }
        }
        let mut lost = Vec::new();
        for &id in ids {
            self.kill(id)?;
            let dropped = node::storage::power_loss::drop_unsynced(&self.data_dir(id))
                .map_err(|e| BackendError::Action { id, action: "drop unsynced writes", why: e.to_string() })?;
            lost.push(format!("node {id} lost {} unsynced bytes", dropped.bytes_cut));
        }
        Ok(lost)
    }

    fn pause(&mut self, id: NodeId) -> Result<(), BackendError> {
        self.signal(id, libc::SIGSTOP, "pause")
    }

    fn resume(&mut self, id: NodeId) -> Result<(), BackendError> {
        self.signal(id, libc::SIGCONT, "resume")
    }

    fn cut(&mut self, from: NodeId, to: NodeId) -> Result<CutMechanism, BackendError> {
        if let Some(fw) = &self.firewall {
            fw.cut(self.ip(from), self.ip(to), self.options.port)?;
            return Ok(CutMechanism::Iptables);
        }
        self.hooks.entry(from).or_default().drop_to.insert(to);
        self.set_hooks(from)?;
        Ok(CutMechanism::AdminHooks)
    }

    fn uncut(&mut self, from: NodeId, to: NodeId) -> Result<(), BackendError> {
        if let Some(fw) = &self.firewall {
            return fw.uncut(self.ip(from), self.ip(to), self.options.port);
        }
        self.hooks.entry(from).or_default().drop_to.remove(&to);
        self.set_hooks(from)
    }

    fn heal(&mut self) -> Result<(), BackendError> {
        if let Some(fw) = &self.firewall {
            return fw.heal();
        }
        let cut: Vec<NodeId> = self.hooks.iter().filter(|(_, h)| !h.drop_to.is_empty()).map(|(id, _)| *id).collect();
        for id in cut {
            self.hooks.entry(id).or_default().drop_to.clear();
            self.set_hooks(id)?;
        }
        Ok(())
    }

    fn skew_clock(&mut self, id: NodeId, ppm: i64) -> Result<(), BackendError> {
        self.hooks.entry(id).or_default().clock_skew_ppm = ppm;
        self.set_hooks(id)
    }

    fn slow_disk(&mut self, id: NodeId, delay: Duration) -> Result<(), BackendError> {
        self.hooks.entry(id).or_default().disk_delay_ms = delay.as_millis() as u64;
        self.set_hooks(id)
    }

    fn log_path(&self, id: NodeId) -> PathBuf {
        self.options.run_dir.join(format!("node-{id}.log"))
    }

    fn is_running(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.child.is_some())
    }
}

impl Drop for ProcessBackend {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                // A paused process must be resumed to die promptly under SIGKILL
                // on some kernels; SIGKILL itself is enough on Linux.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
