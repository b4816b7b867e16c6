#!/usr/bin/env bash
# The BENCHMARKS.md "Flat at 10 M runs" table: every list filter and the
# point reads (4 clients, 3 s each), then gRPC and REST triggers (32
# clients, 8 s, the "started" shape), on an empty database and on 1 M and
# 10 M historical runs, SQLite and PostgreSQL; one JSON line per run.
# Build first: cargo build --release -p runway -p runway-bench
# HISTORIES="0 1000000" BACKENDS=sqlite narrows it.
set -euo pipefail
cd "$(dirname "$0")/../.."
pg_url=postgres://postgres@127.0.0.1:5432/runway_bench
fresh_pg() {
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS runway_bench" \
    -c "CREATE DATABASE runway_bench" postgres 2>/dev/null
}
bench() {
  local backend="$1"; shift
  if [ "$backend" = postgres ]; then
    fresh_pg
    ./target/release/runway-bench "$@" --database-url "$pg_url"
  else
    ./target/release/runway-bench "$@"
  fi
}
for backend in ${BACKENDS:-sqlite postgres}; do
  for history in ${HISTORIES:-0 1000000 10000000}; do
    bench "$backend" --mode lists --clients 4 --history "$history"
    for transport in grpc rest; do
      bench "$backend" --transport "$transport" --clients 32 --seconds 8 \
        --deployments-per-client 40 --history "$history"
    done
  done
done
