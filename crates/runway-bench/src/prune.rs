//! Triggers while the pruner deletes a history: `--history N` finished
//! runs (spread over a month and more), then phases of triggers on the
//! same server — before any policy, while the pruner deletes every run
//! older than a day (`POST /retention`), and after it is done — so trigger
//! throughput and p99 are compared on one database and one machine. The
//! pruner's progress is read from `runway_retention_deleted_total`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Args;
use crate::history::{self, database_mib};
use crate::server::Server;
use crate::triggers::{Phase, Triggerers};

fn report(name: &str, phase: &Phase, deleted: f64) -> Value {
    json!({
        "phase": name,
        "throughput_per_s": phase.throughput(),
        "p50_ms": phase.ms(0.50),
        "p99_ms": phase.ms(0.99),
        "p999_ms": phase.ms(0.999),
        "errors": phase.errors,
        "runs_pruned": deleted,
    })
}

/// Runs deleted by retention so far, from the server's metrics.
async fn pruned(client: &reqwest::Client, server: &Server) -> anyhow::Result<f64> {
    let root = server.http.trim_end_matches("/api/v1/cloud");
    let text = client
        .get(format!("{root}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| {
            l.strip_prefix("runway_retention_deleted_total{kind=\"runs\"} ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0))
}

pub async fn run(args: &Args, server: &Server) -> anyhow::Result<Value> {
    anyhow::ensure!(args.history > 0, "--mode prune needs --history N");
    let client = reqwest::Client::new();
    let filled = history::fill(&client, server, args.history_deployments, args.history).await?;
    let size_full = database_mib(server).await?;
    let triggerers = Triggerers::new(args, server).await?;
    let (warmup, measure) = (Duration::from_secs(1), Duration::from_secs(args.seconds));
    let mut phases = Vec::new();

    let before = triggerers.phase(warmup, measure).await?;
    anyhow::ensure!(before.errors == 0, "{} triggers failed", before.errors);
    phases.push(report("before", &before, 0.0));

    // Everything older than a day goes: the history but its last day.
    let set = client
        .post(format!("{}/retention", server.http))
        .bearer_auth(&server.token)
        .json(&json!({"keep_days": 1, "keep_failed_days": 1}))
        .send()
        .await?;
    anyhow::ensure!(
        set.status().is_success(),
        "POST /retention: {}",
        set.status()
    );
    let started = Instant::now();
    let mut during = Vec::new();
    let mut last = pruned(&client, server).await?;
    let finished = loop {
        let phase = triggerers.phase(Duration::ZERO, measure).await?;
        anyhow::ensure!(phase.errors == 0, "{} triggers failed", phase.errors);
        let now = pruned(&client, server).await?;
        let phase_report = report("while pruning", &phase, now - last);
        eprintln!("runway-bench: {phase_report}");
        phases.push(phase_report);
        during.push(phase);
        // Done when a phase saw (almost) nothing go: the history's runs
        // keep crossing the one-day line, one every 3 s.
        if now > 0.0 && now - last < 100.0 {
            break started.elapsed().as_secs_f64() - measure.as_secs_f64();
        }
        last = now;
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3600),
            "the pruner did not finish within an hour"
        );
    };
    let total = pruned(&client, server).await?;
    let after = triggerers.phase(warmup, measure).await?;
    phases.push(report("after", &after, 0.0));
    let pruning: Vec<&Phase> = during.iter().take(during.len().saturating_sub(1)).collect();
    let worst_p99 = pruning.iter().map(|p| p.ms(0.99)).fold(0.0_f64, f64::max);
    let mean_throughput = if pruning.is_empty() {
        0.0
    } else {
        pruning.iter().map(|p| p.throughput()).sum::<f64>() / pruning.len() as f64
    };
    Ok(json!({
        "mode": "prune",
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "backend": server.backend(),
        "clients": args.clients,
        "history": history::report(&filled, args.history),
        "runs_pruned": total,
        "prune_seconds": (finished * 10.0).round() / 10.0,
        "prune_runs_per_s": (total / finished.max(0.001)).round(),
        "phases": phases,
        "throughput_while_over_before": ((mean_throughput / before.throughput()) * 100.0).round() / 100.0,
        "worst_p99_while_over_before": ((worst_p99 / before.ms(0.99)) * 100.0).round() / 100.0,
        "database_mib_full": size_full,
        "database_mib_after": database_mib(server).await?,
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}
