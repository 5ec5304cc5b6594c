#!/usr/bin/env bash
# Lambda function figures for issue 5, measured on this machine:
#
#   1. size   — bytes of each function binary as built by `cargo build --release` in its own
#               folder, as `sam build` builds it (the workspace release profile strips symbols,
#               uses fat LTO, codegen-units = 1, panic = abort; functions/.cargo/config.toml sets
#               opt-level "z").
#               Built for the HOST target (x86_64 here), not aarch64-unknown-linux-gnu as SAM
#               deploys them: cargo-lambda / zig are not installed.
#   2. init   — time from spawning the process until it asks the Lambda Runtime API for its first
#               event (`GET /2018-06-01/runtime/invocation/next`): runtime set-up, configuration
#               from the environment, AWS SDK config load, clients. Measured by
#               bench/fake_runtime.py, which spawns the binary itself and timestamps just before
#               Popen. INIT_RUNS runs per function, min / median reported.
#               Each run also serves one event and checks the answer end to end (the built binary
#               speaks the Runtime API): triage / ticket / notify get an SQS event whose one record
#               is malformed and must answer batchItemFailures with that record's id; ingest,
#               tracker-events, slack-actions get `GET /healthz` (API Gateway HTTP API v2) and must
#               answer 200; sweep gets {"job":"sweep"} against an empty table and must answer;
#               feeds is measured for init only (its job fetches CISA KEV / FIRST EPSS from the
#               internet).
#   3. memory — peak RSS (VmHWM from /proc/<pid>/status, read after the function answered) of
#               muster-ingest handling `POST /webhooks/local` with a generated SARIF report
#               (bench gen-report): (a) a plain JSON body of ~5.5 MB, so the whole event stays
#               under Lambda's 6 MB payload limit; (b) a gzip body (base64, Content-Encoding: gzip)
#               whose event is < 6 MB and which inflates to ~30 MB (under the default 32 MiB
#               http.body_limit_mib); (c) the same with ~40 MB inflated, with
#               MUSTER_CONFIG_TOML='[http] body_limit_mib = 64' (the default limit refuses it).
#               Each RSS run uses a fresh DynamoDB table so every run does the same work.
#
# Needs: moto on MOTO_URL (DynamoDB + SQS; started if absent and MOTO_SERVER exists), python3,
# and boto3 in MOTO_PYTHON (moto's venv) to create the table and queues.
#
# Usage: bash bench/lambda.sh            (from the workspace root)
#        INIT_RUNS=10 RSS_RUNS=3 SKIP_BUILD=1 bash bench/lambda.sh
# Exit status is non-zero if a build fails or any function answers other than expected.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN_DIR=$TARGET_DIR/release
INIT_RUNS=${INIT_RUNS:-10}
RSS_RUNS=${RSS_RUNS:-1}   # 0 skips the ingest RSS part
JOBS=${JOBS:-1}
MOTO_URL=${MOTO_URL:-http://127.0.0.1:45999}
MOTO_PYTHON=${MOTO_PYTHON:-/tmp/muster-moto-venv/bin/python}
MOTO_SERVER=${MOTO_SERVER:-/tmp/muster-moto-venv/bin/moto_server}
WORK=${WORK:-/tmp/muster-lambda-bench}
# gen-report sizes (deterministic with the seed): ~5.5 MB, ~30 MB and ~40 MB SARIF.
PLAIN_RESULTS=${PLAIN_RESULTS:-10900}
GZIP_RESULTS=${GZIP_RESULTS:-60000}
GZIP40_RESULTS=${GZIP40_RESULTS:-80000}
mkdir -p "$WORK"

# FUNCTIONS="sweep feeds" limits the init runs to those functions.
read -r -a FUNCTIONS <<<"${FUNCTIONS:-ingest triage ticket notify sweep feeds tracker-events slack-actions uploads}"

# --- 1. build and sizes -------------------------------------------------------------------------
# Each function is built alone from its own folder, as `sam build` does (SAM's rust-cargolambda
# builder runs `cargo lambda build --release` with the function's CodeUri as working directory):
# cargo then resolves that package's features alone and reads functions/.cargo/config.toml, which
# builds every crate of a function for size.
if [[ -z ${SKIP_BUILD:-} ]]; then
  for f in "${FUNCTIONS[@]}"; do
    echo "building muster-$f in functions/$f" >&2
    (cd "functions/$f" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -j "$JOBS")
  done
  cargo build --release --locked -j "$JOBS" -p muster-bench
fi

echo "## binary sizes (release profile, opt-level z, stripped, $(uname -m) host build, each function built alone)"
printf '%-24s %12s %8s\n' binary bytes MB
for f in "${FUNCTIONS[@]}"; do
  bin=$BIN_DIR/muster-$f
  bytes=$(stat -c %s "$bin")
  printf '%-24s %12d %8.2f\n' "muster-$f" "$bytes" "$(echo "$bytes / 1000000" | bc -l)"
done
echo

# --- moto: table and queues ---------------------------------------------------------------------
if ! curl -s -o /dev/null "$MOTO_URL"; then
  echo "moto not answering on $MOTO_URL; starting $MOTO_SERVER" >&2
  port=${MOTO_URL##*:}
  (setsid nohup "$MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &)
  for _ in $(seq 50); do curl -s -o /dev/null "$MOTO_URL" && break; sleep 0.2; done
fi

export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_ENDPOINT_URL=$MOTO_URL

# Creates the table with the layout of DynamoStore::create_table (shared/aws/src/dynamo.rs:
# pk/sk and the GSIs open-by-due, by-owner, by-group) and prints its name; `queues` creates the
# three stage queues and prints their URLs.
moto_setup() {
  "$MOTO_PYTHON" - "$@" <<'PY'
import sys, boto3
kind, name = sys.argv[1], sys.argv[2]
if kind == "table":
    ddb = boto3.client("dynamodb")
    attrs = ["pk", "sk", "open_pk", "open_sk", "owner", "owner_sk", "group_key", "fp"]
    def schema(h, r):
        return [{"AttributeName": h, "KeyType": "HASH"}, {"AttributeName": r, "KeyType": "RANGE"}]
    def gsi(n, h, r):
        return {"IndexName": n, "KeySchema": schema(h, r), "Projection": {"ProjectionType": "ALL"}}
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
        KeySchema=schema("pk", "sk"),
        GlobalSecondaryIndexes=[gsi("open-by-due", "open_pk", "open_sk"),
                                gsi("by-owner", "owner", "owner_sk"),
                                gsi("by-group", "group_key", "fp")],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=name)
    print(name)
else:
    sqs = boto3.client("sqs")
    for stage in ("triage", "ticket", "notify"):
        print(sqs.create_queue(QueueName=f"{name}-{stage}")["QueueUrl"])
PY
}

RUN_ID=bench$(date +%s)
export MUSTER_TABLE
MUSTER_TABLE=$(moto_setup table "$RUN_ID")
mapfile -t QUEUES < <(moto_setup queues "$RUN_ID")
export MUSTER_TRIAGE_QUEUE_URL=${QUEUES[0]} MUSTER_TICKET_QUEUE_URL=${QUEUES[1]} MUSTER_NOTIFY_QUEUE_URL=${QUEUES[2]}
# The Lambda environment lambda_runtime reads (and muster_runtime: JSON logs inside Lambda).
export AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_LOG_FORMAT=JSON
export AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/bench AWS_LAMBDA_LOG_STREAM_NAME=bench
# No *_PATH / *_PARAM variables: with the default configuration no function reads SSM.
unset MUSTER_WEBHOOK_SECRETS_PATH MUSTER_TRACKER_SECRETS_PATH MUSTER_JIRA_TOKEN_PARAM \
  MUSTER_GITHUB_TOKEN_PARAM MUSTER_SLACK_BOT_TOKEN_PARAM MUSTER_SLACK_SIGNING_SECRET_PARAM MUSTER_CONFIG_TOML

# --- events -------------------------------------------------------------------------------------
# SQS event, one record whose body is not a muster message: the handler must report it.
cat >"$WORK/sqs_bad.json" <<'JSON'
{"Records":[{"messageId":"bench-bad-1","receiptHandle":"handle-bench-bad-1","body":"this is not a muster message",
 "attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1795788000000"},"messageAttributes":{},"md5OfBody":"",
 "eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:muster-bench","awsRegion":"us-east-1"}]}
JSON
echo '{"job":"sweep"}' >"$WORK/sweep.json"
# S3 event for an object outside uploads/: the uploads function must answer without reading it.
python3 - "$ROOT/tests/fixtures/s3_object_created.json" "$WORK/s3_other.json" <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
event["Records"][0]["s3"]["bucket"]["name"] = "muster-bench"
event["Records"][0]["s3"]["object"]["key"] = "other/not-an-upload.json"
json.dump(event, open(sys.argv[2], "w"))
PY

# API Gateway HTTP API v2 events, shaped like tests/fixtures/apigw_http_v2_webhook.json.
# apigw_event OUT METHOD PATH [BODY_FILE plain|gzip]
apigw_event() {
  python3 - "$ROOT/tests/fixtures/apigw_http_v2_webhook.json" "$@" <<'PY'
import base64, gzip, json, sys
fixture, out, method, path = sys.argv[1:5]
event = json.load(open(fixture))
route = "POST /webhooks/{source}" if path.startswith("/webhooks/") else f"{method} {path}"
event["routeKey"] = event["requestContext"]["routeKey"] = route
event["rawPath"] = event["requestContext"]["http"]["path"] = path
event["requestContext"]["http"]["method"] = method
event["pathParameters"] = {"source": path.rsplit("/", 1)[1]} if path.startswith("/webhooks/") else {}
event["body"], event["isBase64Encoded"] = "", False
if method == "GET":
    event.pop("body")
    event["headers"].pop("content-type", None)
if len(sys.argv) > 5:
    data = open(sys.argv[5], "rb").read()
    if sys.argv[6] == "gzip":
        event["headers"]["content-encoding"] = "gzip"
        event["body"] = base64.b64encode(gzip.compress(data, compresslevel=9)).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = data.decode()
with open(out, "w") as f:
    json.dump(event, f, separators=(",", ":"))
PY
}
apigw_event "$WORK/healthz.json" GET /healthz

# --- 2. init + end-to-end answer ----------------------------------------------------------------
harness() { python3 "$ROOT/bench/fake_runtime.py" --log "$WORK/functions.log" "$@"; }
status=0
echo "## init (spawn -> first /next), $INIT_RUNS runs each; per-run lines in $WORK/init-*.jsonl"
for f in "${FUNCTIONS[@]}"; do
  case $f in
    triage | ticket | notify) args=(--event "$WORK/sqs_bad.json" --expect batch-failure=bench-bad-1) ;;
    ingest | tracker-events | slack-actions) args=(--event "$WORK/healthz.json" --expect http=200) ;;
    sweep) args=(--event "$WORK/sweep.json" --expect response) ;;
    uploads) args=(--event "$WORK/s3_other.json" --expect response) ;;
    feeds) args=(--init-only --expect none) ;;
  esac
  if ! AWS_LAMBDA_FUNCTION_NAME=muster-$f harness --binary "$BIN_DIR/muster-$f" --runs "$INIT_RUNS" "${args[@]}" \
    >"$WORK/init-$f.jsonl"; then
    status=1
    echo "FAILED: muster-$f (see $WORK/init-$f.jsonl and $WORK/functions.log)" >&2
  fi
  tail -n 1 "$WORK/init-$f.jsonl"
  sed -n '1p' "$WORK/init-$f.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("   first answer:", r.get("outcome"), (r.get("response") or "")[:300])'
done
echo

# --- 3. ingest peak RSS -------------------------------------------------------------------------
# Only when ingest is among the functions built.
if [[ $RSS_RUNS -eq 0 || ! " ${FUNCTIONS[*]} " =~ " ingest " ]]; then exit "$status"; fi
gen() { # gen RESULTS OUT
  [[ -s $2 ]] || "$BIN_DIR/gen-report" sarif --results "$1" --runs 1 --rules 50 --dup 0.2 --seed 7 --out "$2" >/dev/null
}
PLAIN_REPORT=$WORK/sarif-$PLAIN_RESULTS.sarif GZIP_REPORT=$WORK/sarif-$GZIP_RESULTS.sarif
GZIP40_REPORT=$WORK/sarif-$GZIP40_RESULTS.sarif
gen "$PLAIN_RESULTS" "$PLAIN_REPORT"
gen "$GZIP_RESULTS" "$GZIP_REPORT"
gen "$GZIP40_RESULTS" "$GZIP40_REPORT"
apigw_event "$WORK/ingest_plain.json" POST /webhooks/local "$PLAIN_REPORT" plain
apigw_event "$WORK/ingest_gzip30.json" POST /webhooks/local "$GZIP_REPORT" gzip
apigw_event "$WORK/ingest_gzip40.json" POST /webhooks/local "$GZIP40_REPORT" gzip

echo "## muster-ingest peak RSS (VmHWM), POST /webhooks/local, $RSS_RUNS runs each, fresh table per run"
rss_case() { # rss_case NAME EVENT REPORT [MUSTER_CONFIG_TOML]
  local name=$1 event=$2 report=$3 config=${4:-}
  printf '%s: report %d bytes, event %d bytes (6 MB Lambda limit = 6291456)\n' "$name" \
    "$(stat -c %s "$report")" "$(stat -c %s "$event")"
  : >"$WORK/rss-$name.jsonl"
  for i in $(seq "$RSS_RUNS"); do
    local table
    table=$(moto_setup table "$RUN_ID-$name-$i")
    if ! MUSTER_TABLE=$table MUSTER_CONFIG_TOML=$config AWS_LAMBDA_FUNCTION_NAME=muster-ingest \
      harness --binary "$BIN_DIR/muster-ingest" --runs 1 --event "$event" --expect http=202 \
      --label "ingest-$name" >>"$WORK/rss-$name.jsonl"; then
      status=1
      echo "FAILED: ingest $name run $i (see $WORK/rss-$name.jsonl)" >&2
    fi
  done
  python3 - "$WORK/rss-$name.jsonl" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if '"run"' in l and '"summary"' not in l]
hwm = [r["vmhwm_kb"] for r in runs if r.get("vmhwm_kb")]
first = json.loads(runs[0]["response"]) if runs and runs[0].get("response") else {}
print("   VmHWM kB per run:", hwm, "| max MiB: %.1f" % (max(hwm) / 1024) if hwm else "no figure")
print("   answer:", first.get("statusCode"), (first.get("body") or "")[:300])
PY
}
rss_case plain "$WORK/ingest_plain.json" "$PLAIN_REPORT"
rss_case gzip30 "$WORK/ingest_gzip30.json" "$GZIP_REPORT"
rss_case gzip40 "$WORK/ingest_gzip40.json" "$GZIP40_REPORT" $'[http]\nbody_limit_mib = 64'

exit "$status"
