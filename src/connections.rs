//! How long the servers' connections (REST and gRPC) may stay silent.
//!
//! hyper's head timer starts only once an HTTP/1.1 request begins, and
//! neither the HTTP version sniffing of the REST server nor the HTTP/2
//! server of gRPC has a timer of its own: a client that connects and sends
//! nothing would hold a socket until the server stops. Wrapped in a
//! [`FirstByteDeadline`], its first read fails with `TimedOut` once the
//! deadline passes without a byte, and the server drops the connection.
//! An HTTP/2 connection past its first byte is pinged instead: a peer gone
//! without closing (a lost network) is found, and its streams end.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a connection may stay silent by default (`--idle-timeout-ms`):
/// before its first byte, and on HTTP/1.1 between requests (the gateway's
/// head timeout). Above the common load balancers' 60 s idle timeouts: a
/// proxy must not reuse a connection the server is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// How often the servers ping an HTTP/2 connection, and how long its answer
/// may take: a vanished peer's streams end within a minute.
pub const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
pub const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection whose reads fail with `TimedOut` when its first byte has
/// not arrived by a deadline; past that byte it is the connection itself.
pub struct FirstByteDeadline<S> {
    inner: S,
    /// Until the first byte arrives.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FirstByteDeadline<S> {
    /// `inner`, whose first byte must arrive within `timeout` from now.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        let Some(deadline) = &mut this.deadline else {
            return read;
        };
        match read {
            Poll::Ready(Ok(())) if buf.filled().len() > before => this.deadline = None,
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection sent nothing before its first byte's deadline",
                )));
            }
            _ => {}
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// tonic reads a connection's peer address and TLS state through this.
impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected
    for FirstByteDeadline<S>
{
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const TIMEOUT: Duration = Duration::from_secs(75);

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_fails_its_read_at_the_deadline() {
        let (_client, server) = tokio::io::duplex(64);
        let mut server = FirstByteDeadline::new(server, TIMEOUT);
        let started = tokio::time::Instant::now();
        let err = server.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_spoke_may_then_idle_past_the_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = FirstByteDeadline::new(server, TIMEOUT);
        client.write_all(b"GET").await.unwrap();
        let mut head = [0u8; 3];
        server.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"GET");
        // Idle three deadlines long, then speak again: still the connection.
        let later = async {
            tokio::time::sleep(TIMEOUT * 3).await;
            client.write_all(b" /").await.unwrap();
            client
        };
        let mut rest = [0u8; 2];
        let (read, _client) = tokio::join!(server.read_exact(&mut rest), later);
        read.unwrap();
        assert_eq!(&rest, b" /");
    }

    #[tokio::test(start_paused = true)]
    async fn a_byte_just_before_the_deadline_counts() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = FirstByteDeadline::new(server, TIMEOUT);
        let late = async {
            tokio::time::sleep(TIMEOUT - Duration::from_millis(1)).await;
            client.write_all(b"x").await.unwrap();
            client
        };
        let mut byte = [0u8; 1];
        let (read, _client) = tokio::join!(server.read_exact(&mut byte), late);
        read.unwrap();
        assert_eq!(&byte, b"x");
    }

    #[tokio::test(start_paused = true)]
    async fn writes_pass_through_before_the_first_byte() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = FirstByteDeadline::new(server, TIMEOUT);
        server.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }
}
