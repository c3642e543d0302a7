//! Connections that say they cannot write vectored, for the servers and
//! clients of raft-node and loadgen.

use std::pin::Pin;
use std::task::{self, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

/// A TCP connection that says it cannot write vectored. h2 copies a DATA
/// frame into its write buffer when the frame is under 1 KiB on such a
/// connection (under 256 B on one that can), and must flush before it
/// buffers anything after a frame it did not copy. A lease read's response
/// (a 256 B value) is just over 256 B, so each one left in a `writev` of
/// its own; copied, the responses ready together leave in one `write`.
/// Larger frames are still written from their own buffers.
pub struct Unvectored(pub TcpStream);

impl AsyncRead for Unvectored {
    fn poll_read(self: Pin<&mut Self>, cx: &mut task::Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

/// `is_write_vectored` and `poll_write_vectored` keep their defaults: not
/// vectored, one buffer at a time.
impl AsyncWrite for Unvectored {
    fn poll_write(self: Pin<&mut Self>, cx: &mut task::Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl Connected for Unvectored {
    type ConnectInfo = <TcpStream as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.connect_info()
    }
}

/// A channel to `endpoint`, connecting on first use, over [`Unvectored`]
/// connections with TCP_NODELAY (requests of 256 B values are as much over
/// h2's threshold as such responses are).
pub fn lazy_channel(endpoint: Endpoint) -> Channel {
    endpoint.connect_with_connector_lazy(tower::service_fn(|uri: Uri| async move {
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(TokioIo::new(Unvectored(stream)))
    }))
}
