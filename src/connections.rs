//! How long the servers' connections (REST and gRPC) may stay silent.
//!
//! Until a new connection's opening is decided, nothing times it out:
//! the REST server's HTTP version sniffing (hyper-util) waits while the
//! bytes could still be an HTTP/2 preface, and the gRPC server (h2) waits
//! for the whole preface, neither with a timer of its own — a client that
//! connects and sends nothing, or a `P`, would hold a socket until the
//! server stops. Wrapped in an [`OpeningDeadline`], the connection's reads
//! fail with `TimedOut` once the deadline passes while what it sent could
//! still be the start of an HTTP/2 preface, and the server drops it. Once
//! the bytes are not a preface (HTTP/1.1: hyper's head timer holds) or are
//! a whole one (HTTP/2: the pings hold), the deadline is gone: a peer gone
//! without closing (a lost network) is found, and its streams end.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How long a connection may stay silent by default (`--idle-timeout-ms`):
/// before its opening, on HTTP/1.1 before each request's head (the
/// gateway's head timeout) and within a request's body. Above the common
/// load balancers' 60 s idle timeouts: a proxy must not reuse a connection
/// the server is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// The next connection `listener` takes, for both servers' accept loops. A
/// failure of that connection alone (it went before it was taken) is
/// skipped at once; the listener's own (out of file descriptors) is logged
/// and waited out a little, so the loop does not spin.
pub async fn next_connection(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) if failed_alone(&err) => {}
            Err(err) => {
                tracing::warn!(%err, addr = ?listener.local_addr().ok(), "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Whether an accept failed for its connection alone.
fn failed_alone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// How long a TLS handshake may take at most; never longer than the idle
/// timeout ([`handshake_timeout`]): a silent connection is closed by the
/// same time either way.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a TLS handshake may take when a connection may stay silent for
/// `idle`.
pub fn handshake_timeout(idle: Duration) -> Duration {
    idle.min(TLS_HANDSHAKE_TIMEOUT)
}

/// How often the servers ping an HTTP/2 connection, and how long its answer
/// may take: a vanished peer's streams end within a minute.
pub const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
pub const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP/2 connection preface (RFC 9113, 3.4): while a connection's
/// bytes could still begin it, the servers wait for more with no timer.
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection whose reads fail with `TimedOut` when, by a deadline, what
/// it sent could still be the start of an HTTP/2 preface (nothing, `P`,
/// `PRI * HT`…); once it is not, or is a whole preface, it is the
/// connection itself.
pub struct OpeningDeadline<S> {
    inner: S,
    /// Until the opening is decided.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// How much of the preface the connection has sent so far.
    matched: usize,
}

impl<S> OpeningDeadline<S> {
    /// `inner`, whose opening must be decided within `timeout` from now.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            matched: 0,
        }
    }

    /// Follows `read` along the preface; true once the opening is decided.
    fn decided(&mut self, read: &[u8]) -> bool {
        for byte in read {
            if *byte != HTTP2_PREFACE[self.matched] {
                return true; // not HTTP/2's preface: HTTP/1.1, or refused
            }
            self.matched += 1;
            if self.matched == HTTP2_PREFACE.len() {
                return true;
            }
        }
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for OpeningDeadline<S> {
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
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if this.decided(read) {
                    this.deadline = None;
                }
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection's opening did not arrive in time",
                )));
            }
            _ => {}
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for OpeningDeadline<S> {
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
    for OpeningDeadline<S>
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

    /// After `silence`, the client speaks `bytes` and the server reads them:
    /// the connection outlived its silence.
    async fn still_reads(
        server: &mut OpeningDeadline<tokio::io::DuplexStream>,
        mut client: tokio::io::DuplexStream,
        silence: Duration,
        bytes: &[u8],
    ) {
        let later = async {
            tokio::time::sleep(silence).await;
            client.write_all(bytes).await.unwrap();
            client
        };
        let mut got = vec![0u8; bytes.len()];
        let (read, _client) = tokio::join!(server.read_exact(&mut got), later);
        read.unwrap();
        assert_eq!(got, bytes);
    }
    /// An HTTP/1.1 request head, longer than the opening.
    const HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_fails_its_read_at_the_deadline() {
        let (_client, server) = tokio::io::duplex(64);
        let mut server = OpeningDeadline::new(server, TIMEOUT);
        let started = tokio::time::Instant::now();
        let err = server.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn part_of_an_opening_fails_at_the_deadline_too() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = OpeningDeadline::new(server, TIMEOUT);
        // A prefix of the HTTP/2 preface: the version sniffing would wait.
        client.write_all(b"PRI * HTTP/2.0").await.unwrap();
        let mut got = [0u8; 64];
        assert_eq!(server.read(&mut got).await.unwrap(), 14);
        let err = server.read(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_opened_may_then_idle_past_the_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = OpeningDeadline::new(server, TIMEOUT);
        client.write_all(HEAD).await.unwrap();
        let mut head = vec![0u8; HEAD.len()];
        server.read_exact(&mut head).await.unwrap();
        assert_eq!(head, HEAD);
        // Idle three deadlines long, then speak again: still the connection.
        still_reads(&mut server, client, TIMEOUT * 3, b"GET").await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_opening_in_pieces_just_before_the_deadline_counts() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = OpeningDeadline::new(server, TIMEOUT);
        let slow = async {
            for piece in HEAD.chunks(10) {
                tokio::time::sleep(TIMEOUT / 4 - Duration::from_millis(1)).await;
                client.write_all(piece).await.unwrap();
            }
            client
        };
        let mut head = vec![0u8; HEAD.len()];
        let (read, client) = tokio::join!(server.read_exact(&mut head), slow);
        read.unwrap();
        assert_eq!(head, HEAD);
        // Opened: a later silence past the first deadline is no failure.
        still_reads(&mut server, client, TIMEOUT, b"x").await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_http1_request_shorter_than_the_preface_is_decided_at_once() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = OpeningDeadline::new(server, TIMEOUT);
        let short = b"GET / HTTP/1.1\r\n\r\n";
        client.write_all(short).await.unwrap();
        let mut head = vec![0u8; short.len()];
        server.read_exact(&mut head).await.unwrap();
        still_reads(&mut server, client, TIMEOUT * 2, b"x").await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_preface_is_decided() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = OpeningDeadline::new(server, TIMEOUT);
        client.write_all(HTTP2_PREFACE).await.unwrap();
        let mut preface = [0u8; 24];
        server.read_exact(&mut preface).await.unwrap();
        still_reads(&mut server, client, TIMEOUT * 2, b"x").await;
    }

    #[tokio::test(start_paused = true)]
    async fn writes_pass_through_before_the_opening() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = OpeningDeadline::new(server, TIMEOUT);
        server.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }
}
