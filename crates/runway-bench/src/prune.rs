//! Triggers while the pruner deletes a history: `--history N` finished
//! runs (spread over a month and more), then pairs of trigger phases on
//! the same server, the pruner idle then deleting every run older than a
//! day (`POST /retention`), until the history is gone — so trigger
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

/// Sets the organization's policy: everything older than a day goes
/// (`prune`), or everything is kept.
async fn set_policy(client: &reqwest::Client, server: &Server, prune: bool) -> anyhow::Result<()> {
    let days = if prune { json!(1) } else { Value::Null };
    let set = client
        .post(format!("{}/retention", server.http))
        .bearer_auth(&server.token)
        .json(&json!({"keep_days": days, "keep_failed_days": days}))
        .send()
        .await?;
    anyhow::ensure!(
        set.status().is_success(),
        "POST /retention: {}",
        set.status()
    );
    Ok(())
}

/// The phases of one kind merged: their triggers' latencies and time.
#[derive(Default)]
struct Merged {
    phase: Option<Phase>,
}

impl Merged {
    fn add(&mut self, phase: &Phase) -> anyhow::Result<()> {
        match &mut self.phase {
            None => self.phase = Some(phase.clone()),
            Some(merged) => {
                merged.latencies.add(&phase.latencies)?;
                merged.errors += phase.errors;
                merged.started += phase.started;
                merged.measured += phase.measured;
            }
        }
        Ok(())
    }

    fn report(&self, name: &str, deleted: f64) -> Value {
        self.phase
            .as_ref()
            .map_or(Value::Null, |phase| report(name, phase, deleted))
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn ratio(a: f64, b: f64) -> f64 {
    ((a / b) * 100.0).round() / 100.0
}

/// Phases in pairs on one server and one database: the policy keeps
/// everything (the pruner idle), then everything older than a day goes
/// (the pruner deleting; a pass reads the policy before each batch, so it
/// stops when the policy is taken back), until a pruning phase sees
/// (almost) nothing go. Each pair's two phases see the same database, so
/// the comparison is not confounded by its growth under the triggers.
pub async fn run(args: &Args, server: &Server) -> anyhow::Result<Value> {
    anyhow::ensure!(args.history > 0, "--mode prune needs --history N");
    let client = reqwest::Client::new();
    let filled = history::fill(&client, server, args.history_deployments, args.history).await?;
    let size_full = database_mib(server).await?;
    let triggerers = Triggerers::new(args, server).await?;
    let (warmup, measure) = (Duration::from_secs(1), Duration::from_secs(args.seconds));
    let mut phases = Vec::new();
    let (mut idle, mut pruning) = (Merged::default(), Merged::default());
    let (mut p99_ratios, mut throughput_ratios) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut pruning_time = Duration::ZERO;
    // Whether a pruning phase found (almost) nothing left to delete.
    let mut history_gone = false;
    loop {
        set_policy(&client, server, false).await?;
        let off = triggerers.phase(warmup, measure).await?;
        anyhow::ensure!(off.errors == 0, "{} triggers failed", off.errors);
        let before = pruned(&client, server).await?;
        set_policy(&client, server, true).await?;
        let on_started = Instant::now();
        let on = triggerers.phase(warmup, measure).await?;
        anyhow::ensure!(on.errors == 0, "{} triggers failed", on.errors);
        let gone = pruned(&client, server).await? - before;
        pruning_time += on_started.elapsed();
        // The last pair, with (almost) nothing left to prune, is not a
        // pruning phase: it only ends the run. The first pair always
        // counts: a first pass may take its whole phase to get going.
        let done = gone < 100.0 && !p99_ratios.is_empty();
        for report in [
            report("pruner idle", &off, 0.0),
            report("pruner deleting", &on, gone),
        ] {
            eprintln!("runway-bench: {report}");
            phases.push(report);
        }
        if done {
            history_gone = true;
            break;
        }
        idle.add(&off)?;
        pruning.add(&on)?;
        p99_ratios.push(on.ms(0.99) / off.ms(0.99));
        throughput_ratios.push(on.throughput() / off.throughput());
        if args.prune_pairs.is_some_and(|n| p99_ratios.len() >= n) {
            break;
        }
        if started.elapsed() > Duration::from_secs(3 * 3600) {
            eprintln!("runway-bench: stopping after three hours, the history not gone");
            break;
        }
    }
    let total = pruned(&client, server).await?;
    let (Some(idle_phase), Some(pruning_phase)) = (&idle.phase, &pruning.phase) else {
        anyhow::bail!("the first pruning phase deleted nothing");
    };
    Ok(json!({
        "mode": "prune",
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "backend": server.backend(),
        "clients": args.clients,
        "history": history::report(&filled, args.history),
        "runs_pruned": total,
        "pairs": p99_ratios.len(),
        "history_gone": history_gone,
        "pruning_seconds": (pruning_time.as_secs_f64() * 10.0).round() / 10.0,
        "prune_runs_per_s_while_pruning": (total / pruning_time.as_secs_f64().max(0.001)).round(),
        "pruner_idle": idle.report("pruner idle (all pairs)", 0.0),
        "pruner_deleting": pruning.report("pruner deleting (all pairs)", total),
        "throughput_deleting_over_idle": ratio(pruning_phase.throughput(), idle_phase.throughput()),
        "p99_deleting_over_idle": ratio(pruning_phase.ms(0.99), idle_phase.ms(0.99)),
        "median_pair_p99_ratio": ratio(median(p99_ratios), 1.0),
        "median_pair_throughput_ratio": ratio(median(throughput_ratios), 1.0),
        "phases": phases,
        "database_mib_full": size_full,
        "database_mib_after": database_mib(server).await?,
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}
