//! Keyed against unkeyed triggers on one server: phases without and with
//! an `Idempotency-Key` on every trigger (each key new), `--rounds` pairs,
//! so both see the same database and the same machine.

use std::time::Duration;

use serde_json::{Value, json};

use crate::Args;
use crate::server::Server;
use crate::triggers::{Phase, Triggerers};

fn report(phase: &Phase, keyed: bool) -> Value {
    json!({
        "keyed": keyed,
        "throughput_per_s": phase.throughput(),
        "p50_ms": phase.ms(0.50),
        "p99_ms": phase.ms(0.99),
        "errors": phase.errors,
        "started": phase.started,
    })
}

pub async fn run(args: &Args, server: &Server) -> anyhow::Result<Value> {
    let triggerers = Triggerers::new(args, server).await?;
    let (warmup, measure) = (Duration::from_secs(1), Duration::from_secs(args.seconds));
    let mut phases = Vec::new();
    let (mut unkeyed, mut keyed) = (0.0, 0.0);
    for _ in 0..args.rounds.max(1) {
        for with_key in [false, true] {
            let phase = triggerers.phase_keyed(warmup, measure, with_key).await?;
            anyhow::ensure!(phase.errors == 0, "{} triggers failed", phase.errors);
            if with_key {
                keyed += phase.throughput();
            } else {
                unkeyed += phase.throughput();
            }
            phases.push(report(&phase, with_key));
        }
    }
    Ok(json!({
        "mode": "keyed",
        "transport": format!("{:?}", args.transport).to_lowercase(),
        "backend": server.backend(),
        "clients": args.clients,
        "deployments": triggerers.deployments(),
        "phases": phases,
        "keyed_over_unkeyed": (keyed / unkeyed * 100.0).round() / 100.0,
        "server_peak_rss_mib": server.peak_rss_mib(),
    }))
}
