#!/usr/bin/env bash
# Generates Python stubs from proto/ with grpcio-tools and drives a live
# `runway serve` through them. Needs the runway binary (cargo build).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

mkdir -p "$work/gen"
"$work/venv/bin/python" -m grpc_tools.protoc -I "$root/proto" \
  --python_out="$work/gen" --grpc_python_out="$work/gen" \
  $(cd "$root/proto" && ls runway/v1/*.proto google/api/*.proto)

RUNWAY_BIN="${RUNWAY_BIN:-$root/target/debug/runway}" PYTHONPATH="$work/gen" \
  "$work/venv/bin/python" -m pytest -q "$here/test_generated_client.py"
