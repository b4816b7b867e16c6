//! TLS and mutual TLS end to end, with certificates made here by rcgen:
//! `serve` over TLS requiring client certificates on gRPC; the CLI over
//! https with `--ca`; a runner with its client certificate executes a run,
//! and a client without one is refused; a gateway calls the server over
//! mutual TLS and serves REST over TLS; plaintext on a non-loopback address
//! needs `--insecure`.

use std::error::Error as _;
use std::process::Output;
use std::time::Duration;

use runway_api::v1::ClaimTurnRequest;
use runway_api::v1::runner_service_client::RunnerServiceClient;
use runway_store::testing::TestDatabase;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::harness::{BIN, Gateway, Runner, Server, json};

pub(crate) mod pki;

use pki::{arg, pki};

async fn cli(url: &str, token: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("RUNWAY_URL", url)
        .env("RUNWAY_TOKEN", token)
        .output()
        .await
        .expect("run the CLI")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls_end_to_end() {
    let pki = pki();
    let db = TestDatabase::sqlite().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        db.url(),
        data.path(),
        &[
            "--tls-cert",
            arg(&pki.server_cert),
            "--tls-key",
            arg(&pki.server_key),
            "--tls-client-ca",
            arg(&pki.client_ca),
        ],
    )
    .await;
    assert!(server.http.starts_with("https://"), "{}", server.http);
    assert!(server.grpc.starts_with("https://"), "{}", server.grpc);
    let ca = arg(&pki.ca);

    // The CLI over https, trusting the test CA; without it the handshake fails.
    let agent = json(
        &cli(
            &server.http,
            &server.token,
            &[
                "agents", "create", "--name", "a", "--model", "m", "--ca", ca, "-o", "json",
            ],
        )
        .await,
    );
    assert_eq!(agent["type"], "agent");
    let untrusted = cli(&server.http, &server.token, &["agents", "list"]).await;
    assert_eq!(untrusted.status.code(), Some(1));
    assert!(
        stderr(&untrusted).contains("cannot reach"),
        "{}",
        stderr(&untrusted)
    );
    let plaintext = server.http.replace("https://", "http://");
    let refused = cli(&plaintext, &server.token, &["agents", "list"]).await;
    assert_eq!(refused.status.code(), Some(1), "plain HTTP to the TLS port");
    let env = json(
        &cli(
            &server.http,
            &server.token,
            &[
                "environments",
                "create",
                "--name",
                "pool",
                "--ca",
                ca,
                "-o",
                "json",
            ],
        )
        .await,
    );
    let (agent, env) = (agent["id"].as_str().unwrap(), env["id"].as_str().unwrap());

    // A runner with its client certificate executes a run.
    let runner = Runner::start(
        &server,
        env,
        1,
        &[
            ("RUNWAY_GRPC_CA", ca),
            ("RUNWAY_GRPC_CLIENT_CERT", arg(&pki.client_cert)),
            ("RUNWAY_GRPC_CLIENT_KEY", arg(&pki.client_key)),
        ],
    );
    let dep = json(
        &cli(
            &server.http,
            &server.token,
            &[
                "deployments",
                "create",
                "--name",
                "d",
                "--agent",
                agent,
                "--environment",
                env,
                "--message",
                "exit 0",
                "--ca",
                ca,
                "-o",
                "json",
            ],
        )
        .await,
    );
    let waited = cli(
        &server.http,
        &server.token,
        &[
            "deployments",
            "run",
            dep["id"].as_str().unwrap(),
            "--wait",
            "--ca",
            ca,
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(waited.status.code(), Some(0), "{}", stderr(&waited));
    let run: Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(run["status"], "completed", "{run}");
    runner.kill9().await;

    // gRPC without a client certificate: the handshake is refused.
    let ca_pem = std::fs::read(&pki.ca).unwrap();
    let claim = || {
        let mut request = tonic::Request::new(ClaimTurnRequest {
            environment_id: String::new(),
            runner_name: "t".into(),
            wait_ms: 0,
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", server.token).parse().unwrap(),
        );
        request
    };
    let anonymous = Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem)))
        .unwrap()
        .connect()
        .await;
    // (TLS 1.3: the client learns it at its first read, not at connect —
    // as the server's CertificateRequired alert, or as the connection
    // closing under a request it was still writing.)
    match anonymous {
        Ok(channel) => {
            let status = RunnerServiceClient::new(channel)
                .claim_turn(claim())
                .await
                .expect_err("no client certificate, no call");
            let transport = status
                .source()
                .and_then(|e| e.downcast_ref::<tonic::transport::Error>());
            // No answer from the service: the status is the transport's.
            assert!(
                transport.is_some(),
                "refused by the transport, not answered: {status:?}"
            );
        }
        Err(err) => assert!(
            format!("{err:?}").contains("CertificateRequired"),
            "{err:?}"
        ),
    }
    // With one, the same call is answered.
    let identity = Identity::from_pem(
        std::fs::read(&pki.client_cert).unwrap(),
        std::fs::read(&pki.client_key).unwrap(),
    );
    let channel = Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&ca_pem))
                .identity(identity),
        )
        .unwrap()
        .connect()
        .await
        .expect("mutual TLS connects");
    let answer = RunnerServiceClient::new(channel)
        .claim_turn(claim())
        .await
        .expect("answered")
        .into_inner();
    assert!(answer.turn.is_none());

    // A standalone gateway with the console: mutual TLS to the server, TLS
    // to its clients.
    let mut gateway = Gateway::start(
        &server.grpc,
        &[
            "--console",
            "--ca",
            ca,
            "--client-cert",
            arg(&pki.client_cert),
            "--client-key",
            arg(&pki.client_key),
            "--tls-cert",
            arg(&pki.server_cert),
            "--tls-key",
            arg(&pki.server_key),
        ],
    )
    .await;
    let url = gateway.url.clone();
    assert!(url.starts_with("https://"), "{url}");
    let runs = json(
        &cli(
            &url,
            &server.token,
            &[
                "runs",
                "list",
                "--deployment",
                dep["id"].as_str().unwrap(),
                "--ca",
                ca,
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(runs["data"][0]["status"], "completed", "{runs}");
    console_through_the_gateway(&url, &server.token, &ca_pem, &dep).await;
    gateway.child.start_kill().unwrap();
}

/// The gateway's console over TLS: the sign-in cookie is `__Host-`
/// prefixed and `Secure`, and a signed-in page reads through the gateway's
/// mutual-TLS channel to the server.
async fn console_through_the_gateway(url: &str, token: &str, ca_pem: &[u8], dep: &Value) {
    runway::tls::install_crypto_provider();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
        .build()
        .unwrap();
    let signed_out = browser
        .get(format!("{url}/deployments"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert_eq!(
        signed_out.headers()["location"],
        "/sign-in?next=%2Fdeployments"
    );
    let signed_in = browser
        .post(format!("{url}/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let (pair, attributes) = cookie.split_once(';').unwrap();
    assert!(pair.starts_with("__Host-runway_session="), "{cookie}");
    assert_eq!(attributes, " Path=/; HttpOnly; SameSite=Strict; Secure");
    let page = browser
        .get(format!("{url}/deployments"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let id = dep["id"].as_str().unwrap();
    assert!(
        html.contains(&format!(r#"<a href="/deployments/{id}">d</a>"#)),
        "{html}"
    );
    assert!(html.contains(r#"class="cell s-completed""#), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_off_loopback_needs_insecure() {
    let data = tempfile::tempdir().unwrap();
    let refused = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "0.0.0.0:0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(
            "refusing to serve plaintext on 0.0.0.0:0: pass --tls-cert and --tls-key, or --insecure"
        ),
        "{}",
        stderr(&refused)
    );
    let gateway = tokio::process::Command::new(BIN)
        .args([
            "gateway",
            "--grpc",
            "http://127.0.0.1:1",
            "--http-addr",
            "0.0.0.0:0",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(gateway.status.code(), Some(1));
    assert!(
        stderr(&gateway).contains("refusing to serve plaintext"),
        "{}",
        stderr(&gateway)
    );

    // With --insecure it serves, and says so in its log.
    let mut insecure = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "0.0.0.0:0",
            "--insecure",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(insecure.stderr.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("serving plaintext on a non-loopback address") {
                return;
            }
        }
        panic!("serve --insecure exited without the warning");
    })
    .await
    .expect("the warning is logged");
    insecure.start_kill().unwrap();
}
