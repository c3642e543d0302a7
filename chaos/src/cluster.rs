//! The nodes of a run as the runner and the nemesis see them: the backend,
//! which of them are members now (membership changes add and remove some),
//! and what each node reports about itself.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use node::client::Client;
use tokio::time::Instant;
use tokio_stream::StreamExt;

use crate::backend::{Backend, NodeId, ProcessBackend};
use crate::check::{FinalState, NodeEvent, NodeEventKind};

pub fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

pub struct Cluster {
    backend: Mutex<ProcessBackend>,
    members: Mutex<Vec<NodeId>>,
    /// Ids handed out so far: the next new node gets `started + 1`.
    started: Mutex<NodeId>,
    pub client: Arc<Client>,
    /// Every node's event stream, merged; times on the wall clock.
    events: Arc<Mutex<Vec<NodeEvent>>>,
    watchers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Cluster {
    /// Starts `size` nodes as the bootstrap members.
    pub fn start(mut backend: ProcessBackend, size: u64) -> Result<Arc<Cluster>, crate::backend::BackendError> {
        let ids: Vec<NodeId> = (1..=size).collect();
        let endpoints: Vec<String> = ids.iter().map(|&id| backend.address(id).to_string()).collect();
        for &id in &ids {
            backend.start(id, &ids, None)?;
        }
        Ok(Arc::new(Cluster {
            backend: Mutex::new(backend),
            members: Mutex::new(ids),
            started: Mutex::new(size),
            client: Arc::new(Client::new(endpoints, None)),
            events: Arc::new(Mutex::new(Vec::new())),
            watchers: Mutex::new(Vec::new()),
        }))
    }

    pub fn backend(&self) -> MutexGuard<'_, ProcessBackend> {
        self.backend.lock().expect("not poisoned")
    }

    pub fn members(&self) -> Vec<NodeId> {
        self.members.lock().expect("not poisoned").clone()
    }

    pub fn add_member(&self, id: NodeId) {
        self.members.lock().expect("not poisoned").push(id);
    }

    pub fn remove_member(&self, id: NodeId) {
        self.members.lock().expect("not poisoned").retain(|&m| m != id);
    }

    /// A fresh id for a node about to join.
    pub fn next_id(&self) -> NodeId {
        let mut started = self.started.lock().expect("not poisoned");
        *started += 1;
        *started
    }

    /// Every id ever started.
    pub fn all_ids(&self) -> Vec<NodeId> {
        (1..=*self.started.lock().expect("not poisoned")).collect()
    }

    pub fn address(&self, id: NodeId) -> SocketAddr {
        self.backend().address(id)
    }

    pub async fn find_leader(&self) -> Option<NodeId> {
        for id in self.members() {
            let addr = self.address(id).to_string();
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(500), self.client.status(&addr)).await
                && s.role == "Leader"
            {
                return Some(id);
            }
        }
        None
    }

    /// The voters the leader reports, if it answers.
    pub async fn voters(&self, leader: NodeId) -> Option<Vec<NodeId>> {
        let s = self.client.status(&self.address(leader).to_string()).await.ok()?;
        Some(s.members.iter().filter(|m| m.voter).map(|m| m.id).collect())
    }

    /// Follows one node's events for the rest of the run, reconnecting
    /// after it restarts.
    pub fn watch(&self, node: NodeId) {
        let (client, events, addr) = (self.client.clone(), self.events.clone(), self.address(node).to_string());
        let task = tokio::spawn(async move {
            loop {
                if let Ok(mut stream) = client.events(&addr).await {
                    while let Some(Ok(e)) = stream.next().await {
                        let kind = if e.kind == "lease_read" { NodeEventKind::LeaseRead } else { NodeEventKind::Role };
                        let event = NodeEvent { node, kind, role: e.role, term: e.term, wall_ns: e.wall_ns };
                        events.lock().expect("not poisoned").push(event);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        self.watchers.lock().expect("not poisoned").push(task);
    }

    /// Stops watching and returns everything the nodes reported, with
    /// times from `wall_origin` (earlier events at 0).
    pub fn stop_watching(&self, wall_origin: u64) -> Vec<NodeEvent> {
        for w in self.watchers.lock().expect("not poisoned").drain(..) {
            w.abort();
        }
        let mut events = self.events.lock().expect("not poisoned").clone();
        for e in &mut events {
            e.wall_ns = e.wall_ns.saturating_sub(wall_origin);
        }
        events
    }

    /// Waits (at most `limit`) for every member to report the same applied
    /// index and digest; returns what they last reported.
    pub async fn converge(&self, limit: Duration) -> Vec<FinalState> {
        let deadline = Instant::now() + limit;
        loop {
            let members = self.members();
            let mut states = Vec::new();
            for &id in &members {
                let addr = self.address(id).to_string();
                if let Ok(Ok(d)) = tokio::time::timeout(Duration::from_secs(1), self.client.digest(&addr)).await {
                    states.push(FinalState { node: id, applied: d.applied, digest: d.digest });
                }
            }
            let agreed = states.len() == members.len()
                && states.windows(2).all(|w| (w[0].applied, &w[0].digest) == (w[1].applied, &w[1].digest));
            if agreed || Instant::now() > deadline {
                return states;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in self.watchers.get_mut().expect("not poisoned").drain(..) {
            w.abort();
        }
    }
}

/// Polls `check` every 100 ms for at most `limit`.
pub async fn wait_until<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Whether a TCP connection from `from`'s IP to `to` opens within 500 ms.
pub async fn connects(from: SocketAddr, to: SocketAddr) -> bool {
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return false };
    if socket.bind(SocketAddr::new(from.ip(), 0)).is_err() {
        return false;
    }
    matches!(tokio::time::timeout(Duration::from_millis(500), socket.connect(to)).await, Ok(Ok(_)))
}
