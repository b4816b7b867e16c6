//! The trigger load: N clients trigger runs as fast as they can.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use runway_api::enums::RunStatus;
use runway_api::v1::RunDeploymentRequest;
use runway_api::v1::deployment_service_client::DeploymentServiceClient;
use serde_json::json;

use crate::server::{Server, mean_trigger_batch, setup};
use crate::{Args, Transport};

/// Runs the trigger load; returns its report.
pub async fn run(args: &Args, server: &Server) -> anyhow::Result<serde_json::Value> {
    let http_client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let (environment, deployments) = setup(
        &http_client,
        server,
        args.clients * args.deployments_per_client.max(1),
    )
    .await?;
    let (token, http) = (server.token.clone(), server.http.clone());
    // Each client its own HTTP/2 connection, as independent callers would
    // have (REST clients get theirs from reqwest's pool).
    let endpoint = tonic::transport::Endpoint::from_shared(server.grpc.clone())?;
    let mut channels = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        channels.push(endpoint.connect().await?);
    }

    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let writer = if args.transcripts {
        let channel = endpoint.connect().await?;
        Some(tokio::spawn(crate::events::write_transcripts(
            channel,
            server.token.clone(),
            environment,
            args.batch,
            args.transcript_rate,
            start + warmup + measure,
        )))
    } else {
        None
    };
    let mut tasks = Vec::new();
    for (mine, channel) in deployments
        .chunks(args.deployments_per_client.max(1))
        .zip(channels)
    {
        let mine = mine.to_vec();
        let (token, http_client, http) = (token.clone(), http_client.clone(), http.clone());
        let transport = args.transport;
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut errors, mut started) = (0u64, 0u64);
            let mut grpc = DeploymentServiceClient::new(channel);
            let urls: Vec<String> = mine
                .iter()
                .map(|d| format!("{http}/deployments/{d}/run"))
                .collect();
            let auth: tonic::metadata::MetadataValue<_> =
                format!("Bearer {token}").parse().unwrap();
            let mut turn = 0;
            while start.elapsed() < warmup + measure {
                turn = (turn + 1) % mine.len();
                let t = Instant::now();
                // Some(started?) on success.
                let outcome = match transport {
                    Transport::Grpc => {
                        let mut request = tonic::Request::new(RunDeploymentRequest {
                            deployment_id: mine[turn].clone(),
                        });
                        request.metadata_mut().insert("authorization", auth.clone());
                        grpc.run_deployment(request).await.ok().map(|r| {
                            r.into_inner().run.is_some_and(|run| {
                                run.status() == runway_api::v1::DeploymentRunStatus::Running
                            })
                        })
                    }
                    Transport::Rest => match http_client
                        .post(&urls[turn])
                        .bearer_auth(&token)
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
                if start.elapsed() > warmup {
                    match outcome {
                        Some(run_started) => {
                            histogram.record(t.elapsed().as_micros() as u64).unwrap();
                            started += u64::from(run_started);
                        }
                        None => errors += 1,
                    }
                }
            }
            (histogram, errors, started)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut errors, mut started) = (0, 0);
    for t in tasks {
        let (h, e, s) = t.await?;
        all.add(h)?;
        errors += e;
        started += s;
    }
    let transcript_events = match writer {
        Some(task) => Some(task.await??),
        None => None,
    };
    let mean_batch = mean_trigger_batch(&http_client, &http).await;
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "backend": server.backend(),
        "clients": args.clients,
        "deployments": args.clients * args.deployments_per_client.max(1),
        "seconds": args.seconds,
        "triggers": all.len(),
        "errors": errors,
        "started": started,
        "throughput_per_s": (all.len() as f64 / measure.as_secs_f64()).round(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "server_peak_rss_mib": server.peak_rss_mib(),
        "mean_trigger_batch": mean_batch.map(|m| (m * 10.0).round() / 10.0),
        "transcript_events_per_s": transcript_events
            .map(|n| (n as f64 / (warmup + measure).as_secs_f64()).round()),
    }))
}
