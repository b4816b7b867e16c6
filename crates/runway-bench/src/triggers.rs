//! The trigger load: N clients trigger runs as fast as they can.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use runway_api::enums::RunStatus;
use runway_api::v1::RunDeploymentRequest;
use runway_api::v1::deployment_service_client::DeploymentServiceClient;
use serde_json::json;
use tonic::transport::Channel;

use crate::cpu::CpuTicks;
use crate::disk;
use crate::server::{Server, mean_trigger_batch, setup};
use crate::{Args, Transport};

/// The trigger clients: each its own connection and its own deployments.
pub struct Triggerers {
    transport: Transport,
    token: String,
    http: String,
    http_client: reqwest::Client,
    /// One per client: its gRPC channel and its deployments.
    clients: Vec<(Channel, Vec<String>)>,
    pub environment: String,
    pub endpoint: tonic::transport::Endpoint,
    /// `--rate`: triggers a second from all clients together, each client
    /// sending on a fixed schedule (an open loop); `None`: each as fast as
    /// it can (a closed loop).
    rate: Option<f64>,
    server_pid: u32,
}

/// What one measured phase saw.
#[derive(Clone)]
pub struct Phase {
    pub latencies: Histogram<u64>,
    pub errors: u64,
    pub started: u64,
    pub measured: Duration,
    /// CPU microseconds per measured trigger, by thread group.
    pub cpu_us: BTreeMap<String, f64>,
    /// KiB the server wrote to storage per measured trigger.
    pub disk_kib: Option<f64>,
}

impl Phase {
    pub fn throughput(&self) -> f64 {
        (self.latencies.len() as f64 / self.measured.as_secs_f64()).round()
    }

    pub fn ms(&self, quantile: f64) -> f64 {
        self.latencies.value_at_quantile(quantile) as f64 / 1000.0
    }
}

impl Triggerers {
    /// An agent, an environment, `clients × deployments_per_client`
    /// deployments, and a connection per client.
    pub async fn new(args: &Args, server: &Server) -> anyhow::Result<Triggerers> {
        let http_client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients)
            .build()?;
        let per_client = args.deployments_per_client.max(1);
        let (environment, deployments) =
            setup(&http_client, server, args.clients * per_client).await?;
        // Each client its own HTTP/2 connection, as independent callers would
        // have (REST clients get theirs from reqwest's pool).
        let endpoint = tonic::transport::Endpoint::from_shared(server.grpc.clone())?;
        let mut clients = Vec::with_capacity(args.clients);
        for mine in deployments.chunks(per_client) {
            clients.push((endpoint.connect().await?, mine.to_vec()));
        }
        Ok(Triggerers {
            transport: args.transport,
            token: server.token.clone(),
            http: server.http.clone(),
            http_client,
            clients,
            environment,
            endpoint,
            rate: (args.rate > 0.0).then_some(args.rate),
            server_pid: server.pid,
        })
    }

    pub fn deployments(&self) -> usize {
        self.clients.iter().map(|(_, d)| d.len()).sum()
    }

    pub fn http_client(&self) -> &reqwest::Client {
        &self.http_client
    }

    /// Every client triggers as fast as it can for `warmup + measure`;
    /// only the `measure` part counts.
    pub async fn phase(&self, warmup: Duration, measure: Duration) -> anyhow::Result<Phase> {
        self.phase_keyed(warmup, measure, false).await
    }

    /// [`Triggerers::phase`]; with `keyed`, every trigger carries an
    /// `Idempotency-Key` of its own.
    pub async fn phase_keyed(
        &self,
        warmup: Duration,
        measure: Duration,
        keyed: bool,
    ) -> anyhow::Result<Phase> {
        let start = Instant::now();
        // Keys unique across phases and bench runs on one database.
        let nonce = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
        );
        let server_pid = self.server_pid;
        let before = tokio::spawn(async move {
            tokio::time::sleep_until((start + warmup).into()).await;
            (CpuTicks::read(server_pid), disk::written_bytes(server_pid))
        });
        let mut tasks = Vec::new();
        let (rate, clients) = (self.rate, self.clients.len());
        for (index, (channel, mine)) in self.clients.iter().enumerate() {
            let prefix = format!("bench-{nonce}-{index}");
            let mine = mine.clone();
            let (token, http_client) = (self.token.clone(), self.http_client.clone());
            let urls: Vec<String> = mine
                .iter()
                .map(|d| format!("{}/deployments/{d}/run", self.http))
                .collect();
            let transport = self.transport;
            let mut grpc = DeploymentServiceClient::new(channel.clone());
            tasks.push(tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let (mut errors, mut started) = (0u64, 0u64);
                let auth: tonic::metadata::MetadataValue<_> =
                    format!("Bearer {token}").parse().unwrap();
                let mut turn = 0;
                let mut sent = 0u64;
                // On a schedule, this client's sends are `interval` apart,
                // the clients' staggered; a send's latency counts from when
                // it was due, so a slow answer that delays the next sends
                // counts in theirs too (no coordinated omission).
                let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
                let offset = interval.map(|i| i * index as u32 / clients as u32);
                // A client behind its schedule still sends every trigger
                // that fell due within the phase (the phase runs over).
                let end = start + warmup + measure;
                loop {
                    let t = match (interval, offset) {
                        (Some(interval), Some(offset)) => {
                            let due = start + offset + interval * sent as u32;
                            tokio::time::sleep_until(due.into()).await;
                            due
                        }
                        _ => Instant::now(),
                    };
                    if t >= end {
                        break;
                    }
                    turn = (turn + 1) % mine.len();
                    sent += 1;
                    let key = keyed.then(|| format!("{prefix}-{sent}"));
                    // Some(started?) on success.
                    let outcome = match transport {
                        Transport::Grpc => {
                            let mut request = tonic::Request::new(RunDeploymentRequest {
                                deployment_id: mine[turn].clone(),
                            });
                            request.metadata_mut().insert("authorization", auth.clone());
                            if let Some(key) = &key {
                                request
                                    .metadata_mut()
                                    .insert("idempotency-key", key.parse().unwrap());
                            }
                            grpc.run_deployment(request).await.ok().map(|r| {
                                r.into_inner().run.is_some_and(|run| {
                                    run.status() == runway_api::v1::DeploymentRunStatus::Running
                                })
                            })
                        }
                        Transport::Rest => match key
                            .iter()
                            .fold(
                                http_client.post(&urls[turn]).bearer_auth(&token),
                                |r, key| r.header("idempotency-key", key),
                            )
                            .send()
                            .await
                        {
                            Ok(r) if r.status().is_success() => r
                                .json::<serde_json::Value>()
                                .await
                                .ok()
                                .map(|run| run["status"] == RunStatus::Running.name()),
                            _ => None,
                        },
                    };
                    if t >= start + warmup {
                        match outcome {
                            Some(run_started) => {
                                histogram.saturating_record(t.elapsed().as_micros() as u64);
                                started += u64::from(run_started);
                            }
                            None => errors += 1,
                        }
                    }
                }
                (histogram, errors, started)
            }));
        }
        let mut phase = Phase {
            latencies: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
            errors: 0,
            started: 0,
            measured: measure,
            cpu_us: BTreeMap::new(),
            disk_kib: None,
        };
        for t in tasks {
            let (h, e, s) = t.await?;
            phase.latencies.add(h)?;
            phase.errors += e;
            phase.started += s;
        }
        let (cpu_before, written_before) = before.await?;
        let operations = phase.latencies.len();
        phase.cpu_us = cpu_before.per_operation_us(&CpuTicks::read(server_pid), operations);
        phase.disk_kib =
            disk::kib_per_operation(written_before, disk::written_bytes(server_pid), operations);
        Ok(phase)
    }
}

/// Runs the trigger load; returns its report.
pub async fn run(args: &Args, server: &Server) -> anyhow::Result<serde_json::Value> {
    let history = if args.history > 0 {
        let client = reqwest::Client::new();
        let history =
            crate::history::fill(&client, server, args.history_deployments, args.history).await?;
        Some(crate::history::report(&history, args.history))
    } else {
        None
    };
    let triggerers = Triggerers::new(args, server).await?;
    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(args.seconds);
    let writer = if args.transcripts {
        let channel = triggerers.endpoint.connect().await?;
        Some(tokio::spawn(crate::events::write_transcripts(
            channel,
            server.token.clone(),
            triggerers.environment.clone(),
            args.batch,
            args.transcript_rate,
            Instant::now() + warmup + measure,
        )))
    } else {
        None
    };
    let phase = triggerers.phase(warmup, measure).await?;
    let transcript_events = match writer {
        Some(task) => Some(task.await??),
        None => None,
    };
    let mean_batch = mean_trigger_batch(triggerers.http_client(), &server.http).await;
    Ok(json!({
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "backend": server.backend(),
        "clients": args.clients,
        "deployments": triggerers.deployments(),
        "seconds": args.seconds,
        "triggers": phase.latencies.len(),
        "errors": phase.errors,
        "started": phase.started,
        "throughput_per_s": phase.throughput(),
        "p50_ms": phase.ms(0.50),
        "p99_ms": phase.ms(0.99),
        "p999_ms": phase.ms(0.999),
        "cpu_us_per_trigger": phase.cpu_us,
        "disk_kib_per_trigger": phase.disk_kib,
        "server_peak_rss_mib": server.peak_rss_mib(),
        "mean_trigger_batch": mean_batch.map(|m| (m * 10.0).round() / 10.0),
        "transcript_events_per_s": transcript_events
            .map(|n| (n as f64 / (warmup + measure).as_secs_f64()).round()),
        "history": history,
    }))
}

impl Triggerers {
    /// Triggers `count` runs over gRPC, every client at once, as fast as
    /// they go; returns how many were answered.
    pub async fn count(&self, count: u64) -> anyhow::Result<u64> {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        for (channel, mine) in &self.clients {
            let (mine, next) = (mine.clone(), next.clone());
            let mut grpc = DeploymentServiceClient::new(channel.clone());
            let auth: tonic::metadata::MetadataValue<_> =
                format!("Bearer {}", self.token).parse()?;
            tasks.push(tokio::spawn(async move {
                let mut answered = 0u64;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                    let deployment_id = mine[answered as usize % mine.len()].clone();
                    let mut request = tonic::Request::new(RunDeploymentRequest { deployment_id });
                    request.metadata_mut().insert("authorization", auth.clone());
                    answered += u64::from(grpc.run_deployment(request).await.is_ok());
                }
                answered
            }));
        }
        let mut answered = 0;
        for t in tasks {
            answered += t.await?;
        }
        Ok(answered)
    }
}
