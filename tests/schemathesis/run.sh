#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a real `muster serve` from the server's own OpenAPI
# description: every operation, every check, a bounded number of examples. Any server error
# or contract mismatch fails the run.
#   tests/schemathesis/run.sh [MAX_EXAMPLES]        (default 50; CI uses the default)
# Environment: MUSTER_BIN (default: builds target/debug/muster), MUSTER_ST_VENV (default
# /tmp/muster-schemathesis-venv), MUSTER_ST_PORT (default 18080).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
max_examples="${1:-50}"
venv="${MUSTER_ST_VENV:-/tmp/muster-schemathesis-venv}"
port="${MUSTER_ST_PORT:-18080}"
schemathesis_version="4.32.5"

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$schemathesis_version"; then
  echo "== installing schemathesis $schemathesis_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

bin="${MUSTER_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$repo" && cargo build --quiet --locked -p muster)
  bin="${CARGO_TARGET_DIR:-$repo/target}/debug/muster"
fi

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export MUSTER_ST_READ_TOKEN="st-read-token" MUSTER_ST_TRACKER_TOKEN="st-unused" \
  MUSTER_ST_GITHUB_HOOK="st-github" MUSTER_ST_JIRA_HOOK="st-jira" MUSTER_ST_SLACK_SIGNING="st-slack"
"$bin" serve --addr "127.0.0.1:$port" --db "$work/muster.db" --config "$here/muster.toml" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
    "http://127.0.0.1:$port/healthz" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "muster serve exited:"; cat "$work/serve.log"; exit 1; }
  sleep 0.1
done

status=0
(cd "$here" && "$venv/bin/schemathesis" --no-color run "http://127.0.0.1:$port/openapi.json" \
  --max-examples "$max_examples" --workers 1 \
  --header "Authorization: Bearer $MUSTER_ST_READ_TOKEN" --seed 20261127) || status=$?
if grep -q "panicked" "$work/serve.log"; then
  echo "the server panicked:"; grep -A5 panicked "$work/serve.log"; status=1
fi
exit "$status"
