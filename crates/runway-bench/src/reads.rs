//! Point reads against triggers on one server (issue 14: a point read and a
//! list's first page at ≥ 3× the trigger throughput): `--rounds` times, a
//! trigger phase (`--transport`, `--clients`, 1 s of warm-up), then each
//! read by as many clients (in an order that rotates by round), every phase
//! `--seconds` long, so triggers and reads see the same database, disk and
//! hour.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::Args;
use crate::lists::measure;
use crate::server::Server;
use crate::triggers::Triggerers;

pub async fn run(args: &Args, server: &Server) -> anyhow::Result<Value> {
    // An open loop's throughput is the offered rate: no ratio to read.
    anyhow::ensure!(
        args.rate == 0.0,
        "--mode reads measures closed loops: no --rate"
    );
    let triggerers = Triggerers::new(args, server).await?;
    let client = triggerers.http_client().clone();
    let window = Duration::from_secs(args.seconds);
    let mut rounds = Vec::new();
    let mut trigger_total = 0.0;
    let mut read_totals = std::collections::BTreeMap::<&str, f64>::new();
    for round in 0..args.rounds.max(1) {
        let phase = triggerers.phase(Duration::from_secs(1), window).await?;
        anyhow::ensure!(phase.errors == 0, "{} triggers failed", phase.errors);
        trigger_total += phase.throughput();
        // The newest run and its deployment: what the triggers just wrote.
        let newest: Value = client
            .get(format!("{}/deployment_runs?limit=1", server.http))
            .bearer_auth(&server.token)
            .send()
            .await?
            .json()
            .await?;
        let run = &newest["data"][0];
        let run_id = run["id"].as_str().context("a run")?;
        let deployment_id = run["deployment_id"].as_str().context("its deployment")?;
        let mut reads = Vec::new();
        let mut order = [
            ("deployment", format!("/deployments/{deployment_id}")),
            ("run", format!("/deployment_runs/{run_id}")),
            ("first_page", "/deployment_runs".to_string()),
        ];
        // Whatever the trigger phase leaves the server doing falls on a
        // different read each round.
        let turn = round % order.len();
        order.rotate_left(turn);
        for (name, path) in order {
            let mut read = measure(&client, server, args.clients, &path, window).await?;
            let per_second = read["reads_per_second"].as_f64().unwrap_or(0.0);
            *read_totals.entry(name).or_default() += per_second;
            read["read"] = json!(name);
            read["over_triggers"] = json!(ratio(per_second, phase.throughput()));
            reads.push(read);
        }
        rounds.push(json!({
            "triggers_per_s": phase.throughput(),
            "trigger_p99_ms": phase.ms(0.99),
            "trigger_cpu_us": phase.cpu_us.get("server"),
            "reads": reads,
        }));
    }
    let over_triggers: serde_json::Map<String, Value> = read_totals
        .iter()
        .map(|(name, total)| (name.to_string(), json!(ratio(*total, trigger_total))))
        .collect();
    Ok(json!({
        "mode": "reads",
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "backend": server.backend(),
        "clients": args.clients,
        "rounds": rounds,
        "reads_over_triggers": over_triggers,
    }))
}

fn ratio(reads: f64, triggers: f64) -> f64 {
    (reads / triggers.max(1.0) * 100.0).round() / 100.0
}
