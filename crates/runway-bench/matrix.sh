#!/usr/bin/env bash
# The BENCHMARKS.md table: every transport × backend × load, twice, 32 clients,
# 10 s each, one JSON line per run. PostgreSQL runs on a freshly created
# `runway_bench` database each time. Build first:
#   cargo build --release -p runway -p runway-bench
set -euo pipefail
cd "$(dirname "$0")/../.."
pg_url=postgres://postgres@127.0.0.1:5432/runway_bench
fresh_pg() {
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS runway_bench" \
    -c "CREATE DATABASE runway_bench" postgres
}
for rep in 1 2; do
  # 1 deployment per client: at its limit after the warm-up (skipped runs);
  # 40: 128,000 slots, every measured trigger starts a run.
  for per_client in 1 40; do
    for transport in grpc rest; do
      ./target/release/runway-bench --transport "$transport" --clients 32 --seconds 10 \
        --deployments-per-client "$per_client"
      fresh_pg
      ./target/release/runway-bench --transport "$transport" --clients 32 --seconds 10 \
        --deployments-per-client "$per_client" --database-url "$pg_url"
    done
  done
done
