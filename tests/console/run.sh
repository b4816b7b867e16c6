#!/usr/bin/env bash
# Real-browser tests of the web console: Debian's Chromium driven by
# Playwright (CDP; playwright-core only, no browser download) against a live
# `runway serve`, with axe-core on every main screen. Writes the README's
# screenshots to docs/screenshots (SCREENSHOTS=dir to put them elsewhere).
# Needs the runway binary (cargo build -p runway); installs Chromium with
# apt-get and the two npm packages (package-lock.json) when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "console tests: installing Debian's chromium"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
RUNWAY_BIN="${RUNWAY_BIN:-$root/target/debug/runway}" \
  SCREENSHOTS="${SCREENSHOTS:-$root/docs/screenshots}" \
  node --test --test-concurrency=1 console.test.mjs
