//! `runway-bench`: load against a `runway serve` child process on SQLite or
//! PostgreSQL; prints one JSON report. Build the server with `--release`
//! first.
//!
//! - `--mode triggers` (default): N clients trigger runs as fast as they
//!   can, over gRPC or REST (`--transcripts`: while a writer appends
//!   transcript events).
//! - `--mode appends`: N runners append transcript events in batches.
//! - `--mode subscribers`: S SSE clients follow one session while events
//!   are appended; each event's delay from its append to each subscriber.
//! - `--mode deliveries`: a backlog of `--events` webhook deliveries drains
//!   to a local receiver.
//! - `--mode webhook-triggers`: the trigger load with the organization's
//!   one webhook endpoint disabled, then enabled, `--rounds` times.
//! - `--mode webhook-shares`: another endpoint's delivery latency while
//!   one endpoint answers nothing, for `--seconds`.
//! - `--mode lists`: every run list filter and the point reads, each read
//!   by `--clients` clients for 3 s; p50, p99, reads a second.
//!
//! - `--mode reads`: `--rounds` times a trigger phase, then the point
//!   reads and a list's first page, each `--seconds` by `--clients`.
//! - `--mode keyed`: the trigger load without, then with, an
//!   `Idempotency-Key` on every trigger, `--rounds` times.
//! - `--mode console`: the web console's pages (response time, weight),
//!   then the server's memory with `--viewers` open live runs pages.
//! - `--mode prune`: pairs of trigger phases over a `--history`, the
//!   pruner idle then deleting, until the history is gone (or
//!   `--prune-pairs`).
//!
//! `--rate R` makes any trigger load an open loop of R triggers a second.
//! `--history N` first writes N finished runs into the database (over
//! `--history-deployments` deployments), so any load measures against a
//! long history.

mod console;
mod cpu;
mod disk;
mod events;
mod history;
mod keyed;
mod lists;
mod prune;
mod reads;
mod server;
mod triggers;
mod webhook_shares;
mod webhooks;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Transport {
    Grpc,
    Rest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Triggers,
    Appends,
    Subscribers,
    Deliveries,
    WebhookTriggers,
    WebhookShares,
    Lists,
    Console,
    Keyed,
    Prune,
    Reads,
}

#[derive(Debug, Parser)]
#[command(about = "Throughput and latency benchmark for runway")]
pub struct Args {
    /// What load to put on the server.
    #[arg(long, value_enum, default_value = "triggers")]
    pub mode: Mode,
    /// gRPC or REST (triggers).
    #[arg(long, value_enum, default_value = "grpc")]
    pub transport: Transport,
    /// Concurrent clients (triggers: each its own deployments; appends: each
    /// its own run).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Deployments each client triggers in turn (triggers). Each takes 100
    /// running runs before its triggers are recorded `skipped`, so enough of
    /// them (say 40 for 10 s) measure the started path throughout.
    #[arg(long, default_value_t = 1)]
    pub deployments_per_client: usize,
    /// Triggers: meanwhile, one writer appends transcript events (batches of
    /// `--batch`) to running sessions as fast as it can.
    #[arg(long)]
    pub transcripts: bool,
    /// Events per AppendEvents call (appends, transcripts).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// With `--transcripts`: events per second the writer appends (0: as
    /// fast as it can).
    #[arg(long, default_value_t = 0)]
    pub transcript_rate: u64,
    /// SSE clients following the session (subscribers).
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Events appended per second while subscribers follow (subscribers).
    #[arg(long, default_value_t = 20)]
    pub events_per_second: u64,
    /// Triggers a second from all clients together, each on a fixed
    /// schedule, latency counted from when a trigger was due (0: each
    /// client as fast as it can).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// How long to measure, in seconds (after a warm-up: 2 s, or 1 s in
    /// keyed, prune and reads).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Webhook events to write before the receiver answers (deliveries).
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// What the endpoint subscribes to (webhook-triggers), comma separated.
    #[arg(long, value_delimiter = ',', default_value = runway_api::enums::WebhookEventType::All.name())]
    pub event_types: Vec<String>,
    /// Pairs of phases, without then with an endpoint (webhook-triggers) or
    /// a key (keyed); trigger phases each followed by the reads (reads).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Stop after this many pairs of phases (prune; default: once the
    /// history is gone).
    #[arg(long)]
    pub prune_pairs: Option<usize>,
    /// Open live runs pages (console).
    #[arg(long, default_value_t = 200)]
    pub viewers: usize,
    /// Finished runs written into the database before the load.
    #[arg(long, default_value_t = 0)]
    pub history: u64,
    /// Deployments the history is spread over.
    #[arg(long, default_value_t = 20)]
    pub history_deployments: usize,
    /// `postgres://…` to bench PostgreSQL; default: SQLite in a temp dir.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Extra arguments for `runway serve` (e.g. `--sqlite-synchronous=normal`).
    #[arg(long, allow_hyphen_values = true)]
    pub serve_arg: Vec<String>,
    /// The runway binary to start.
    #[arg(long, default_value = "target/release/runway")]
    pub runway: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS provider (as runway's CLI): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let mut serve_args = args.serve_arg.clone();
    if !serve_args.iter().any(|a| a.starts_with("--rate-limit")) {
        // Every client shares one token: its request limit (a policy for a
        // client, 20,000/s by default) would cap what the server can do.
        serve_args.push("--rate-limit-per-second=0".into());
    }
    if args.mode == Mode::Prune {
        // The pruner starts soon after the policy is set.
        serve_args.push("--prune-interval-ms=500".into());
    }
    if matches!(
        args.mode,
        Mode::Deliveries | Mode::WebhookTriggers | Mode::WebhookShares
    ) {
        // The receiver is local.
        serve_args.push("--webhooks-allow-private".into());
    }
    let server =
        server::Server::start(&args.runway, args.database_url.as_deref(), &serve_args).await?;
    let report = match args.mode {
        Mode::Triggers => triggers::run(&args, &server).await,
        Mode::Appends => events::appends(&args, &server).await,
        Mode::Subscribers => events::subscribers(&args, &server).await,
        Mode::Deliveries => webhooks::deliveries(&args, &server).await,
        Mode::WebhookTriggers => webhooks::triggers(&args, &server).await,
        Mode::WebhookShares => webhook_shares::run(&args, &server).await,
        Mode::Lists => lists::run(&args, &server).await,
        Mode::Console => console::run(&args, &server).await,
        Mode::Keyed => keyed::run(&args, &server).await,
        Mode::Prune => prune::run(&args, &server).await,
        Mode::Reads => reads::run(&args, &server).await,
    };
    server.stop().await;
    println!("{}", report?);
    Ok(())
}
