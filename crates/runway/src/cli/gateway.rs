//! `gateway`: the REST gateway (and, with `--console`, the console) in
//! front of a remote gRPC server.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::shutdown_signal;

#[derive(Debug, Args)]
pub(super) struct GatewayArgs {
    /// The runway gRPC server to call, e.g. http://127.0.0.1:50051 or https://….
    #[arg(long, env = "RUNWAY_GRPC_URL")]
    pub(super) grpc: String,
    #[command(flatten)]
    pub(super) grpc_tls: crate::tls::ClientTlsArgs,
    #[command(flatten)]
    pub(super) tls: crate::tls::ListenTlsArgs,
    /// REST listen address.
    #[arg(long, env = "RUNWAY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub(super) http_addr: SocketAddr,
    /// How often an event stream (SSE) sends a `heartbeat`, in milliseconds.
    #[arg(long, env = "RUNWAY_SSE_HEARTBEAT_MS", default_value_t = 15_000)]
    pub(super) sse_heartbeat_ms: u64,
    /// How long a connection may stay silent, in milliseconds: before its
    /// first request, on HTTP/1.1 between requests, and within a request's
    /// body (keep it above a load balancer's idle timeout, so the balancer
    /// closes first). At least 100.
    #[arg(long, env = "RUNWAY_IDLE_TIMEOUT_MS", default_value_t = 75_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub(super) idle_timeout_ms: u64,
    /// Also serve the web console at `/` (as `runway serve` does).
    #[arg(long, env = "RUNWAY_CONSOLE")]
    pub(super) console: bool,
}

pub(super) async fn gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let tls = args.tls.load(&[args.http_addr], None)?;
    let mut endpoint = tonic::transport::Endpoint::from_shared(args.grpc.clone())
        .with_context(|| format!("{:?} is not a URL", args.grpc))?;
    if let Some(client_tls) = args.grpc_tls.grpc(&args.grpc)? {
        endpoint = endpoint
            .tls_config(client_tls)
            .context("the TLS settings are not usable")?;
    }
    let channel = endpoint.connect_lazy();
    let services =
        runway_api::services::Services::remote(runway_api::transport::over_channel(channel));
    // The event streams' heartbeat and the console's live pages' keep-alive.
    let heartbeat = Duration::from_millis(args.sse_heartbeat_ms.max(10));
    let gateway = runway_gateway::Gateway::new(services.clone()).with_heartbeat(heartbeat);
    let closer = gateway.clone();
    let mut router = runway_gateway::router(gateway, observability_registry());
    let mut console_closer = None;
    if args.console {
        let console = runway_console::Console::new(services, tls.is_some(), heartbeat);
        console_closer = Some(console.clone());
        router = router.merge(runway_console::router(console));
    }
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("binding REST to {}", args.http_addr))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    crate::logging::announce(format_args!(
        "runway: REST on {scheme}://{}/api/v1/cloud → {}",
        listener.local_addr()?,
        args.grpc
    ));
    if args.console {
        crate::logging::announce(format_args!(
            "runway: console on {scheme}://{}/",
            listener.local_addr()?
        ));
    }
    let idle = Duration::from_millis(args.idle_timeout_ms);
    runway_gateway::serve_with_tls(
        listener,
        router,
        runway_gateway::Serving {
            tls: tls.map(|tls| tls.rest()),
            idle,
            grpc: runway_gateway::GrpcElsewhere::new(format_args!(
                "the gRPC server behind this gateway ({}, `runway gateway --grpc`)",
                args.grpc
            )),
        },
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            super::exit_on_a_second_signal();
            closer.close_streams();
            if let Some(console) = console_closer {
                console.close_streams();
            }
        },
    )
    .await?;
    Ok(())
}

/// A standalone gateway's metrics: its own requests only.
fn observability_registry() -> runway_gateway::Observability {
    runway_gateway::Observability::new(prometheus_client::registry::Registry::default())
}
