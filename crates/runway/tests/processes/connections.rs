//! How long a connection may stay silent (`--idle-timeout-ms`), on both
//! servers, and what a standalone gateway's stop ends.

use std::time::Duration;

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Gateway, Server, http_client};
use crate::tls::pki::{Pki, arg, pki};
use runway_store::testing::TestDatabase;

/// Far longer than any idle timeout below: a connection still open then
/// was not closed for its silence.
const CLOSED_WITHIN: Duration = Duration::from_secs(20);

/// What the server sent on `connection` until it closed it.
async fn read_until_closed(connection: &mut (impl AsyncRead + Unpin), what: &str) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(CLOSED_WITHIN, connection.read_to_end(&mut got)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset is a close too (the server dropped a socket with unread
        // bytes), and so is a TLS connection's end without close_notify.
        Ok(Err(err))
            if matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
            ) => {}
        Ok(Err(err)) => panic!("{what}: {err}"),
        Err(_) => panic!("{what}: still open after {CLOSED_WITHIN:?}"),
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn address(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_and_a_quiet_stream_is_not() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let args = ["--idle-timeout-ms", "400", "--sse-heartbeat-ms", "150"];
    let server = Server::start_with(db.url(), data.path(), &args).await;
    let (rest, grpc) = (address(&server.http), address(&server.grpc));

    // Connected, nothing sent: both servers close the connection.
    let mut silent_rest = TcpStream::connect(rest).await.unwrap();
    let mut silent_grpc = TcpStream::connect(grpc).await.unwrap();
    assert_eq!(read_until_closed(&mut silent_rest, "silent REST").await, "");
    // (An HTTP/2 server speaks first: its SETTINGS frame, then the close.)
    read_until_closed(&mut silent_grpc, "silent gRPC").await;

    // One byte that could begin an HTTP/2 preface, then nothing: the
    // version sniffing (REST) and the preface read (gRPC) would wait on.
    for (port, what) in [(rest, "a P to REST"), (grpc, "a P to gRPC")] {
        let mut opened = TcpStream::connect(port).await.unwrap();
        opened.write_all(b"P").await.unwrap();
        read_until_closed(&mut opened, what).await;
    }

    // Half a request head, then nothing: closed without an answer.
    let mut half = TcpStream::connect(rest).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let said = read_until_closed(&mut half, "half a head").await;
    assert!(
        said.is_empty() || said.starts_with("HTTP/1.1 408"),
        "{said}"
    );

    // A body that stops arriving: the request fails with the envelope's
    // 400 saying so.
    let mut paused = TcpStream::connect(rest).await.unwrap();
    let head = format!(
        "POST /api/v1/cloud/environments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"name\"",
        server.token
    );
    paused.write_all(head.as_bytes()).await.unwrap();
    let said = read_until_closed(&mut paused, "a paused body").await;
    assert!(said.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{said}");
    let envelope: serde_json::Value =
        serde_json::from_str(said.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        envelope["error"],
        serde_json::json!({
            "type": "invalid_request_error",
            "message": "The request body stopped arriving: nothing came for longer than the server's idle timeout."
        })
    );
    assert!(envelope["request_id"].is_string(), "{envelope}");

    // A request answered, then a kept-alive connection left idle: closed
    // after the answer.
    let mut kept = TcpStream::connect(rest).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let said = read_until_closed(&mut kept, "kept alive").await;
    assert!(said.starts_with("HTTP/1.1 200 OK\r\n"), "{said}");

    // An event stream the client never writes to outlives the timeout
    // many times over: its heartbeats keep coming.
    let stream = http_client()
        .get(format!(
            "{}/api/v1/cloud/deployment_runs/watch",
            server.http
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let started = tokio::time::Instant::now();
    let mut body = stream.bytes_stream();
    let mut heartbeats = 0;
    let mut text = String::new();
    while started.elapsed() < Duration::from_millis(2_000) {
        use futures::StreamExt as _;
        let chunk = tokio::time::timeout(CLOSED_WITHIN, body.next())
            .await
            .expect("the stream goes on")
            .expect("the stream is open")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
        heartbeats = text.matches("event: heartbeat").count();
    }
    assert!(heartbeats >= 5, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_gateway_ends_its_console_live_pages_when_it_stops() {
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(db.url(), data.path()).await;
    let mut gateway = Gateway::start(
        &server.grpc,
        &[
            "--console",
            "--idle-timeout-ms",
            "1000",
            "--sse-heartbeat-ms",
            "100",
        ],
    )
    .await;
    let url = gateway.url.clone();

    // The gateway's own idle timeout: a silent connection is closed.
    let mut silent = TcpStream::connect(address(&url)).await.unwrap();
    assert_eq!(read_until_closed(&mut silent, "silent gateway").await, "");

    runway::tls::install_crypto_provider();
    // (A connection each: none reused after the gateway closed it idle.)
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let signed_in = browser
        .post(format!("{url}/sign-in"))
        .form(&[("token", server.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let pair = cookie.split_once(';').unwrap().0.to_string();
    let live = browser
        .get(format!("{url}/runs/live"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let mut body = live.bytes_stream();
    use futures::StreamExt as _;
    let first = body.next().await.expect("the runs table").unwrap();
    assert!(
        String::from_utf8_lossy(&first).starts_with("event: runs\n"),
        "{first:?}"
    );

    // The page's keep-alive comes at the gateway's --sse-heartbeat-ms.
    let kept_alive = tokio::time::timeout(Duration::from_secs(5), body.next())
        .await
        .expect("a keep-alive within 5 s")
        .expect("the page is open")
        .unwrap();
    assert!(kept_alive.starts_with(b":"), "{kept_alive:?}");

    // The gateway stops: the page's stream ends, and the gateway does not
    // wait out its 20 s grace for it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(gateway.child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the live page still open after the stop");
    let status = tokio::time::timeout(Duration::from_secs(10), gateway.child.wait())
        .await
        .expect("the gateway exits before its grace ends")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// A TLS connection to `addr` trusting the test CA, offering `alpn`, with
/// the client certificate when `client_cert`.
async fn handshake(
    addr: &str,
    pki: &Pki,
    client_cert: bool,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = if client_cert {
        let chain = CertificateDer::pem_file_iter(&pki.client_cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pki.client_key).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the TLS handshake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_connection_silent_after_its_handshake_is_closed() {
    runway::tls::install_crypto_provider();
    let pki = pki();
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    // (2 s: two mutual-TLS handshakes of a debug build on a busy machine
    // fit in it.)
    let args = [
        "--idle-timeout-ms",
        "2000",
        "--tls-cert",
        arg(&pki.server_cert),
        "--tls-key",
        arg(&pki.server_key),
        "--tls-client-ca",
        arg(&pki.client_ca),
    ];
    let server = Server::start_with(db.url(), data.path(), &args).await;
    let rest = server.http.trim_start_matches("https://");
    let grpc = server.grpc.trim_start_matches("https://");

    // Silent before any handshake: closed by the same time (the handshake's
    // timeout is never longer than the idle one).
    for (port, what) in [(rest, "silent TLS REST"), (grpc, "silent TLS gRPC")] {
        let mut silent = TcpStream::connect(port).await.unwrap();
        assert_eq!(read_until_closed(&mut silent, what).await, "");
    }
    // The handshake's bytes are not the opening: after it, silence is.
    let mut rest_tls = handshake(rest, &pki, false, b"http/1.1").await;
    assert_eq!(
        read_until_closed(&mut rest_tls, "silent REST over TLS").await,
        ""
    );
    let mut grpc_tls = handshake(grpc, &pki, true, b"h2").await;
    read_until_closed(&mut grpc_tls, "silent gRPC over TLS").await;
}
