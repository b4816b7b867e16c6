#!/usr/bin/env bash
# Starts `runway serve` on free loopback ports with a fresh SQLite data
# directory and prints `export` lines for RUNWAY_HTTP, RUNWAY_TOKEN and
# RUNWAY_PID. Usage: eval "$(serve.sh RUNWAY_BIN DATA_DIR)".
set -euo pipefail
bin="$1"
data="$2"
log="$data/serve.log"
"$bin" serve --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$data" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  if line=$(grep -m1 -o 'REST on http://[^/ ]*' "$log" 2>/dev/null); then
    echo "export RUNWAY_HTTP=${line#REST on }"
    echo "export RUNWAY_TOKEN=$(cat "$data/admin-token")"
    echo "export RUNWAY_PID=$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
echo "runway serve did not start" >&2
cat "$log" >&2
exit 1
