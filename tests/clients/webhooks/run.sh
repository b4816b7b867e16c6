#!/usr/bin/env bash
# A receiver that verifies runway's webhooks with the reference Standard
# Webhooks library for Python (`standardwebhooks`), against a live
# `runway serve` with an embedded runner. Needs the runway binary (cargo build).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

RUNWAY_BIN="${RUNWAY_BIN:-$root/target/debug/runway}" \
  "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$here/test_standard_webhooks.py"
