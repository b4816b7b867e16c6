#!/bin/sh
# A small agent for `runway serve --exec` / `runway runner --exec`.
#
# It reads the run context (one JSON document: run, deployment, agent,
# initial_events, session_id) on stdin, "works" for AGENT_SECONDS (default 1),
# and prints a report on stdout. Exit 0 means completed; any other exit fails
# the run with agent_error and the tail of stderr.
set -eu
context=$(cat)
echo "run ${RUNWAY_RUN_ID} of ${RUNWAY_DEPLOYMENT_ID} in session ${RUNWAY_SESSION_ID}"
printf '%s\n' "$context" | grep -o '"content":"[^"]*"' | head -n 1 || true
sleep "${AGENT_SECONDS:-1}"
if [ -n "${AGENT_FAIL:-}" ]; then
  echo "could not write the report: ${AGENT_FAIL}" >&2
  exit 3
fi
echo "status report written"
