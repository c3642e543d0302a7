//! Outbound peer traffic: one long-lived gRPC stream per peer, opened from
//! this node's own address, so that the link A->B is exactly A's connection
//! to B and a firewall rule on (A, B) cuts that direction only.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use raft::Message;
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Endpoint, Uri};
use tracing::{debug, info};

use crate::proto::raft::raft_peer_client::RaftPeerClient;
use crate::wire::to_pb;

/// The stream metadata naming the sender: "ID=IP:PORT".
pub const FROM_HEADER: &str = "x-raft-from";

/// Messages waiting for one peer's stream; more are dropped, as a lossy
/// network would, and Raft retransmits.
const QUEUE: usize = 4096;

#[derive(Clone)]
pub struct Peers {
    inner: Arc<Inner>,
}

struct Inner {
    /// "ID=IP:PORT" of this node, sent when a stream opens so that a peer
    /// that does not know us yet (a joining node) can answer.
    me: String,
    bind_ip: IpAddr,
    /// Where each peer's stream runs: the stream to peer id on runtimes[id mod n].
    runtimes: Vec<tokio::runtime::Handle>,
    senders: Mutex<HashMap<u64, mpsc::Sender<Message>>>,
    faults: Mutex<Faults>,
}

/// Test hooks: traffic this node drops on purpose.
#[derive(Default)]
struct Faults {
    drop_to: HashSet<u64>,
    drop_from: HashSet<u64>,
}

impl Peers {
    pub fn new(id: u64, listen: SocketAddr, runtimes: Vec<tokio::runtime::Handle>) -> Peers {
        Peers {
            inner: Arc::new(Inner {
                me: format!("{id}={listen}"),
                bind_ip: listen.ip(),
                runtimes,
                senders: Mutex::new(HashMap::new()),
                faults: Mutex::new(Faults::default()),
            }),
        }
    }

    /// Starts the stream to `id` unless it runs already.
    pub fn ensure(&self, id: u64, address: String) {
        let mut senders = self.inner.senders.lock().expect("not poisoned");
        if senders.contains_key(&id) {
            return;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        senders.insert(id, tx);
        info!(peer = id, %address, "connecting to peer");
        let runtime = &self.inner.runtimes[id as usize % self.inner.runtimes.len()];
        runtime.spawn(outbound(self.inner.me.clone(), self.inner.bind_ip, address, rx));
    }

    pub fn send_all(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let faults = self.inner.faults.lock().expect("not poisoned");
        let senders = self.inner.senders.lock().expect("not poisoned");
        for m in messages {
            if faults.drop_to.contains(&m.to) {
                continue;
            }
            if let Some(tx) = senders.get(&m.to)
                && tx.try_send(m).is_err()
            {
                debug!("peer queue full or closed; message dropped");
            }
        }
    }

    pub fn drops_from(&self, id: u64) -> bool {
        self.inner.faults.lock().expect("not poisoned").drop_from.contains(&id)
    }

    pub fn set_faults(&self, drop_to: HashSet<u64>, drop_from: HashSet<u64>) {
        *self.inner.faults.lock().expect("not poisoned") = Faults { drop_to, drop_from };
    }
}

/// Keeps a stream open to `address`, reconnecting with backoff, until the
/// node shuts down (the sender is dropped).
async fn outbound(me: String, bind_ip: IpAddr, address: String, mut rx: mpsc::Receiver<Message>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match connect(bind_ip, &address).await {
            Ok(mut client) => {
                backoff = Duration::from_millis(50);
                let (tx, stream_rx) = mpsc::channel(256);
                let mut request = tonic::Request::new(ReceiverStream::new(stream_rx));
                if let Ok(v) = me.parse() {
                    request.metadata_mut().insert(FROM_HEADER, v);
                }
                let call = client.stream(request);
                tokio::pin!(call);
                loop {
                    tokio::select! {
                        result = &mut call => {
                            debug!(%address, ?result, "peer stream ended");
                            break;
                        }
                        next = rx.recv() => match next {
                            None => return,
                            Some(m) => if tx.send(to_pb(&m)).await.is_err() { break },
                        },
                    }
                }
            }
            Err(e) => debug!(%address, error = %e, "cannot reach peer"),
        }
        // Whatever queued while disconnected is stale; Raft resends.
        while rx.try_recv().is_ok() {}
        if rx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

async fn connect(
    bind_ip: IpAddr,
    address: &str,
) -> Result<RaftPeerClient<tonic::transport::Channel>, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))?.connect_timeout(Duration::from_secs(1));
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |uri: Uri| async move {
            let host = uri.host().unwrap_or_default();
            let port = uri.port_u16().unwrap_or(80);
            let target: SocketAddr = format!("{host}:{port}")
                .parse()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let socket = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
            socket.bind(SocketAddr::new(bind_ip, 0))?;
            socket.set_nodelay(true)?;
            Ok::<_, std::io::Error>(TokioIo::new(socket.connect(target).await?))
        }))
        .await?;
    Ok(RaftPeerClient::new(channel))
}
