#!/usr/bin/env bash
# DynamoDB and SQS request counts of the AWS adapters (tests/examples/dynamo_requests.rs), for the
# "DynamoDB requests" section of BENCHMARKS.md and docs/cost.md:
#
#   - ingest of a generated 20k-finding SARIF report through Pipeline::ingest, then the same report
#     again; the triage / ticket / notify stages it queued;
#   - the sweep Lambda's handler over 100k open triaged findings with 100, then 1,000 due.
#
# Uses MUSTER_MOTO_ENDPOINT when set; otherwise starts moto_server (MOTO_SERVER, else PATH, else
# /tmp/muster-moto-venv/bin/moto_server) on a free port and stops it on exit. MOTO_PYTHON (default:
# the python beside moto_server) only reports moto's version.
#
# Usage: bash bench/dynamo.sh                    (from anywhere; debug build)
#        PROFILE=release bash bench/dynamo.sh    (release build: slower to build, same counts)
#        DYNAMO_OPEN=20000 bash bench/dynamo.sh  (a smaller backlog for a quick run)
#        DYNAMO_TICKET_DELAY=0 bash bench/dynamo.sh  (ticket requests delivered at once, as without the queue's DelaySeconds)
set -euo pipefail

cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dev}

server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

server=
if [[ -z ${MUSTER_MOTO_ENDPOINT:-} ]]; then
  server=${MOTO_SERVER:-$(command -v moto_server || echo /tmp/muster-moto-venv/bin/moto_server)}
  if [[ ! -x $server ]]; then
    echo "moto_server not found: pip install 'moto[server]', or set MUSTER_MOTO_ENDPOINT" >&2
    exit 1
  fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=${TMPDIR:-/tmp}/muster-dynamo-moto.log
  "$server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port" && break
    kill -0 "$server_pid" 2>/dev/null || { echo "moto_server exited; see $log" >&2; exit 1; }
    sleep 0.2
  done
  export MUSTER_MOTO_ENDPOINT=http://127.0.0.1:$port
  echo "moto_server on $MUSTER_MOTO_ENDPOINT (log: $log)" >&2
fi

moto_python=${MOTO_PYTHON:-$(dirname "${server:-/tmp/muster-moto-venv/bin/moto_server}")/python}
[[ -x $moto_python ]] || moto_python=python3
echo "moto $("$moto_python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || echo '(version unknown)')," \
  "$(nproc) cores, profile $PROFILE" >&2
cargo run --profile "$PROFILE" -p muster-tests --example dynamo_requests
