//! Serving threads: every accepted connection lives on one thread.
//!
//! tonic serving on the multi-threaded runtime lets a connection's task and
//! the tasks of its streams run on different threads at once, so each frame
//! a stream queues can leave in a write of its own: profiled under 64
//! clients' lease reads, the leader made 2.1 `writev` calls per response.
//! Here the listener deals its connections round-robin to the serving
//! threads, single-threaded runtimes (crate::runtimes). A connection and its
//! streams share a thread, and whatever they have ready by the time the
//! thread turns to the socket leaves in one write, while a member with
//! several connections (clients, peers, admins) still keeps every core
//! busy.
//!
//! The connections are also served as unable to write vectored (see
//! crate::unvectored), for the same reason: fewer, fuller writes.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::server::Router;
use tracing::warn;

use crate::runtimes::RuntimeThreads;
use crate::unvectored::Unvectored;

/// Serves `router` on `listen` from the serving threads `runtimes` until
/// `shutdown` resolves, then lets open calls finish.
pub async fn serve(
    listen: SocketAddr,
    runtimes: &RuntimeThreads,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = Vec::new();
    let mut served = Vec::new();
    for runtime in runtimes.handles() {
        let (tx, rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        // Each stream is registered with the reactor of the thread that
        // takes it (the map runs there).
        let incoming = UnboundedReceiverStream::new(rx).map(|stream| TcpStream::from_std(stream).map(Unvectored));
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        served.push(runtime.spawn(router.clone().serve_with_incoming_shutdown(incoming, stopped)));
        connections.push(tx);
    }
    tokio::pin!(shutdown);
    let mut next = 0;
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            // Out of descriptors, or a connection reset before it was
            // taken: the listener itself is fine. Out of descriptors, the
            // next accept fails at once too, so it waits: retried at once,
            // the loop would spin and log without end.
            Err(e) => {
                let pause = backoff.failed();
                warn!(error = %e, retry_in = ?pause, "accept failed");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            warn!(error = %e, "TCP_NODELAY not set");
        }
        let stream = stream.into_std().context("handing a connection to a serving thread")?;
        // A thread whose server stopped (an error, reported below) takes
        // no more connections.
        if connections[next].send(stream).is_err() {
            break;
        }
        next = (next + 1) % connections.len();
    }
    drop(listener);
    let _ = stop_tx.send(true);
    for (n, served) in served.into_iter().enumerate() {
        match served.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e).with_context(|| format!("serving thread {n}")),
            Err(e) => anyhow::bail!("serving thread {n}: {e}"),
        }
    }
    Ok(())
}

/// How long to wait after failed accepts: 5 ms after the first, doubling
/// with each failure in a row up to a second (as Go's net/http does), and
/// from 5 ms again after an accept succeeds.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(5);
    const MAX: std::time::Duration = std::time::Duration::from_secs(1);

    fn failed(&mut self) -> std::time::Duration {
        let pause = Self::FIRST.saturating_mul(1 << self.failures.min(16)).min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    fn succeeded(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::oneshot;
    use tonic::transport::{Channel, Endpoint, Server};
    use tonic::{Request, Response, Status, Streaming};

    use crate::proto::raft::raft_peer_client::RaftPeerClient;
    use crate::proto::raft::raft_peer_server::{RaftPeer, RaftPeerServer};
    use crate::proto::raft::{PeerMessage, StreamClosed};
    use crate::runtimes::RuntimeThreads;

    /// Notes the thread each call is served on.
    struct ThreadNames(Arc<Mutex<Vec<String>>>);

    #[tonic::async_trait]
    impl RaftPeer for ThreadNames {
        async fn stream(&self, _: Request<Streaming<PeerMessage>>) -> Result<Response<StreamClosed>, Status> {
            let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
            self.0.lock().unwrap().push(thread);
            Ok(Response::new(StreamClosed {}))
        }
    }

    /// An address no other test uses.
    const LISTEN: &str = "127.0.0.175:17175";

    async fn connect() -> Channel {
        let endpoint = Endpoint::from_static("http://127.0.0.175:17175");
        for _ in 0..100 {
            if let Ok(channel) = endpoint.connect().await {
                return channel;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never listened on {LISTEN}");
    }

    async fn served_on(channel: &Channel, names: &Mutex<Vec<String>>) -> String {
        RaftPeerClient::new(channel.clone()).stream(tokio_stream::iter(Vec::<PeerMessage>::new())).await.unwrap();
        names.lock().unwrap().last().cloned().unwrap()
    }

    #[tokio::test]
    async fn connections_take_the_threads_in_turn_and_each_stays_on_its_own() {
        let names = Arc::new(Mutex::new(Vec::new()));
        let router = Server::builder().add_service(RaftPeerServer::new(ThreadNames(names.clone())));
        let (stop, stopped) = oneshot::channel::<()>();
        let runtimes = RuntimeThreads::start(2, "serve").unwrap();
        let served = tokio::spawn(async move {
            super::serve(LISTEN.parse().unwrap(), &runtimes, router, async {
                let _ = stopped.await;
            })
            .await
        });
        let mut threads = Vec::new();
        for _ in 0..3 {
            let channel = connect().await;
            let first = served_on(&channel, &names).await;
            for _ in 0..4 {
                assert_eq!(served_on(&channel, &names).await, first, "a connection moved threads");
            }
            threads.push(first);
        }
        assert_eq!(threads, ["serve-0", "serve-1", "serve-0"]);

        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), served).await.expect("serve stops");
        result.unwrap().unwrap();
        assert!(tokio::net::TcpStream::connect(LISTEN).await.is_err(), "the listener is closed");
    }

    #[test]
    fn failed_accepts_wait_longer_each_time_up_to_a_second_and_from_the_start_after_a_success() {
        let mut backoff = super::AcceptBackoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| backoff.failed().as_millis()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        for _ in 0..100 {
            let _ = backoff.failed();
        }
        assert_eq!(backoff.failed(), Duration::from_secs(1));
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(5));
    }
}
