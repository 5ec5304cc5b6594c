#!/usr/bin/env bash
# muster against its Python peers, and end-to-end figures of the embedded store, on this machine.
#
#   peers — for seeded SARIF and Trivy reports of 20k and 200k results (bench gen-report), the CPU
#           seconds (user + sys: the machine is shared, so wall time is not the unit) and peak RSS
#           of:
#             muster           `muster --db FRESH.db ingest --json FILE`: the whole local pipeline
#                              (parse, dedupe, store, then triage, grouping, outbox tickets and
#                              chat), into a new SQLite file each run; checked by counting the
#                              findings stored afterwards;
#             faraday-plugins  `faraday-plugins process-report --plugin_id ID -drh -o OUT FILE`:
#                              parse alone, plugin named (Sarif / Trivy_Json) so that its
#                              auto-detection (a full json.load before the parse) is not counted;
#                              checked by counting the vulnerabilities in its JSON output, and
#                              `faraday-plugins detect-report FILE` is shown beside it. One
#                              auto-detect run (no --plugin_id) is measured as well, for the
#                              AUTODETECT_SIZES reports (20k by default: it adds a full json.load);
#             sarif-tools      `sarif csv -o OUT FILE` (SARIF only): loads the log and writes one
#                              CSV row per result (rule, level, location, line, message), the
#                              command closest to "parse every result"; checked by counting rows.
#           RUNS runs each (median; a peer whose first run takes more than ONCE_OVER seconds of
#           wall time is measured once). Prints a Markdown table with the ratios peer / muster.
#   e2e   — the embedded store end to end: `muster ingest` of 30k new findings (triage, groups,
#           outbox tickets), the identical report again (CPU, wall, and the SQLite write
#           transactions and rows it changed, counted from outside: commit frames in the WAL and a
#           before/after comparison of every row), and `muster sweep` over 100k open findings
#           (one hour after the ingest, and 29 days after, when groups are due soon or breached).
#           Wall seconds are the targets' unit there; they depend on the load of the shared machine.
#   floor — SQLite's own CPU to store what muster stored for the first size's SARIF and Trivy reports:
#           the same rows, schema, pragmas and order, inserted by one INSERT ... SELECT inside
#           SQLite and committed (python3's sqlite3), with each body as stored, cut to 300 bytes,
#           and empty. Set beside the 25x budget (faraday-plugins' CPU / 25, from the last peers
#           run): how much of that budget the store alone needs, whatever muster's own code does.
#
# Usage: bash bench/peers.sh [all|peers|e2e|floor]       (default all; from anywhere)
#        RUNS=5 SKIP_BUILD=1 bash bench/peers.sh peers
# Environment: CARGO_TARGET_DIR (default: the workspace's target/), RUNS (3), ONCE_OVER (300),
#              PEERS_VENV (bench/out/peers-venv; created with faraday-plugins and sarif-tools
#              from PyPI when missing), SKIP_BUILD=1 (use the binaries already built),
#              SIZES="20000 200000" (results per generated peer report), AUTODETECT_SIZES ("20000").
# Needs: cargo, python3 (3.9+, with venv and sqlite3), GNU time at /usr/bin/time, PyPI access the
# first time. Outputs: bench/out/peers-*.{sarif,json}, bench/out/peers-results.jsonl,
# bench/out/e2e-results.jsonl (one JSON record per measurement), the tables on standard output.
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }

cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-all}
case $MODE in all | peers | e2e | floor) ;; *) die "unknown mode '$MODE' (all, peers, e2e or floor)" ;; esac
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$ROOT/bench/out
VENV=${PEERS_VENV:-$OUT/peers-venv}
RUNS=${RUNS:-3}
ONCE_OVER=${ONCE_OVER:-300}
read -r -a SIZES <<<"${SIZES:-20000 200000}"
read -r -a AUTODETECT_SIZES <<<"${AUTODETECT_SIZES:-20000}"
MEASURE=(python3 "$ROOT/bench/peers_measure.py")
MUSTER=$TARGET_DIR/release/muster
GEN=$TARGET_DIR/release/gen-report

[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is needed for peak RSS: apt-get install time"
command -v python3 >/dev/null || die "python3 not found"
mkdir -p "$OUT"
# muster reads these; the measurements must use the flags given here and no muster.toml.
unset MUSTER_DB MUSTER_CONFIG RUST_LOG
cd "$OUT" # no muster.toml here (checked below), so muster runs with its default configuration
[[ ! -e muster.toml ]] || die "$OUT/muster.toml exists; muster would read it"

# --- build ---------------------------------------------------------------------------------------
if [[ -z ${SKIP_BUILD:-} ]]; then
  echo "building muster and gen-report (release, target dir $TARGET_DIR) ..." >&2
  (cd "$ROOT" && cargo build --release --locked -p muster -p muster-bench --bin muster --bin gen-report) ||
    die "cargo build failed"
fi
[[ -x $MUSTER ]] || die "$MUSTER not built (unset SKIP_BUILD)"
[[ -x $GEN ]] || die "$GEN not built (unset SKIP_BUILD)"

# gen NAME ARGS...: a seeded report in bench/out (kept between runs: the same args give the same bytes)
gen() {
  local name=$1
  shift
  if [[ ! -s $OUT/$name ]]; then
    "$GEN" "$@" --out "$OUT/$name.tmp" >/dev/null || die "gen-report $* failed"
    mv "$OUT/$name.tmp" "$OUT/$name"
  fi
}

machine_note() {
  echo "machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%FT%TZ); muster $("$MUSTER" --version | cut -d' ' -f2)," \
    "Python $(python3 -c 'import platform; print(platform.python_version())')"
}

# --- peers ---------------------------------------------------------------------------------------
run_peers() {
  if [[ ! -x $VENV/bin/faraday-plugins || ! -x $VENV/bin/sarif ]]; then
    echo "creating $VENV with faraday-plugins and sarif-tools from PyPI ..." >&2
    python3 -m venv "$VENV" || die "cannot create the virtualenv $VENV"
    "$VENV/bin/pip" install -q faraday-plugins sarif-tools || die "pip install faraday-plugins sarif-tools failed"
  fi
  local versions
  versions=$("$VENV/bin/pip" freeze | grep -iE '^(faraday[-_]plugins|sarif[-_]tools)==' | tr '\n' ' ')
  [[ -n $versions ]] || die "faraday-plugins / sarif-tools not found in $VENV"

  local results=$OUT/peers-results.jsonl
  : >"$results"
  local db=$OUT/peers.db
  local n file format plugin bytes count record out check
  for n in "${SIZES[@]}"; do
    gen "peers-sarif-$n.sarif" sarif --results "$n" --runs 4 --rules 300 --dup 0.2 --seed 7
    gen "peers-trivy-$n.json" trivy --results "$n" --targets 5 --dup 0.2 --seed 7
  done
  for n in "${SIZES[@]}"; do
    for format in sarif trivy; do
      if [[ $format == sarif ]]; then file=$OUT/peers-sarif-$n.sarif plugin=Sarif; else file=$OUT/peers-trivy-$n.json plugin=Trivy_Json; fi
      bytes=$(stat -c %s "$file")
      count=$("${MEASURE[@]}" count "$format" "$file")
      [[ $count == "$n" ]] || die "$file holds $count results, expected $n"
      local meta=(--set "file=$(basename "$file")" --set "format=$format" --set "results=$n" --set "bytes=$bytes")
      echo "== $(basename "$file"): $format, $n results, $bytes bytes" >&2

      # muster: the whole ingest into a fresh store
      record=$("${MEASURE[@]}" run --label "muster $format $n" --runs "$RUNS" --fresh-db "$db" \
        --stdout "$OUT/peers-muster.out" --stderr "$OUT/peers-muster.err" -- "$MUSTER" --db "$db" ingest --json "$file")
      local stored summary
      stored=$("${MEASURE[@]}" count findings "$db")
      summary=$("${MEASURE[@]}" check muster-ingest "$OUT/peers-muster.out" "$stored") ||
        die "muster's ingest of $file did not store what it reported"
      echo "$record" | "${MEASURE[@]}" annotate "$results" "${meta[@]}" --set "tool=muster ingest (whole pipeline)" --set "check=$summary"

      # faraday-plugins: recognition, then the parse with the plugin named, then one auto-detect run
      local detected
      detected=$("$VENV/bin/faraday-plugins" detect-report "$file" 2>&1 | tail -1) || true
      out=$OUT/peers-faraday.json
      rm -f "$out"
      record=$("${MEASURE[@]}" run --label "faraday $format $n" --runs "$RUNS" --once-if-over "$ONCE_OVER" --allow-fail \
        --stdout "$OUT/peers-faraday.out" --stderr "$OUT/peers-faraday.err" -- \
        "$VENV/bin/faraday-plugins" process-report --plugin_id "$plugin" -drh -o "$out" "$file")
      if [[ -s $out ]]; then
        check=$("${MEASURE[@]}" check faraday "$("${MEASURE[@]}" count faraday "$out")")
      else
        check="no output (did not process the report)"
      fi
      check="$check; detect-report: ${detected//|/\\|}"
      echo "$record" | "${MEASURE[@]}" annotate "$results" "${meta[@]}" --set "tool=faraday-plugins process-report --plugin_id $plugin" --set "check=$check"
      rm -f "$out"
      if [[ " ${AUTODETECT_SIZES[*]} " == *" $n "* ]]; then
      record=$("${MEASURE[@]}" run --label "faraday auto-detect $format $n" --runs 1 --allow-fail \
        --stdout "$OUT/peers-faraday.out" --stderr "$OUT/peers-faraday.err" -- \
        "$VENV/bin/faraday-plugins" process-report -drh -o "$out" "$file")
      if [[ -s $out ]]; then
        check=$("${MEASURE[@]}" check faraday "$("${MEASURE[@]}" count faraday "$out")")
      else
        check="not recognised: $(tail -1 "$OUT/peers-faraday.out" "$OUT/peers-faraday.err" 2>/dev/null | grep -v '^==' | tr -s '\n' ' ')"
      fi
      echo "$record" | "${MEASURE[@]}" annotate "$results" "${meta[@]}" --set "tool=faraday-plugins process-report (auto-detect)" --set "check=$check"
      rm -f "$out"
      fi

      # sarif-tools: SARIF only
      if [[ $format == sarif ]]; then
        out=$OUT/peers-sarif-tools.csv
        rm -f "$out"
        record=$("${MEASURE[@]}" run --label "sarif-tools $format $n" --runs "$RUNS" --once-if-over "$ONCE_OVER" --allow-fail \
          --stdout "$OUT/peers-sarif-tools.out" --stderr "$OUT/peers-sarif-tools.err" -- \
          "$VENV/bin/sarif" csv -o "$out" "$file")
        if [[ -s $out ]]; then
          check="$(printf "%'d" "$("${MEASURE[@]}" count csv "$out")") CSV rows"
        else
          check="no CSV written"
        fi
        echo "$record" | "${MEASURE[@]}" annotate "$results" "${meta[@]}" --set "tool=sarif-tools (sarif csv)" --set "check=$check"
        rm -f "$out"
      fi
    done
  done
  rm -f "$db" "$db-wal" "$db-shm"

  echo
  echo "## muster against its Python peers (CPU = user + sys, median of $RUNS; results/s and MB/s per CPU second)"
  echo
  echo "$(machine_note); $versions"
  echo
  "${MEASURE[@]}" table "$results"
  echo
  "${MEASURE[@]}" target "$results"
}

# --- e2e -----------------------------------------------------------------------------------------
run_e2e() {
  local results=$OUT/e2e-results.jsonl
  : >"$results"
  local db=$OUT/e2e.db record stored outbox
  gen e2e-sarif-30k.sarif sarif --results 30000 --runs 1 --rules 50 --dup 0 --seed 11
  gen e2e-sarif-100k.sarif sarif --results 100000 --runs 1 --rules 300 --dup 0 --seed 13
  local file30=$OUT/e2e-sarif-30k.sarif file100=$OUT/e2e-sarif-100k.sarif

  echo "== e2e: ingest 30k new findings into a fresh store" >&2
  record=$("${MEASURE[@]}" run --label "ingest 30k" --runs "$RUNS" --fresh-db "$db" \
    --stdout "$OUT/e2e.out" --stderr "$OUT/e2e.err" -- "$MUSTER" --db "$db" ingest --json "$file30")
  stored=$("${MEASURE[@]}" count findings "$db")
  outbox=$("${MEASURE[@]}" count outbox "$db")
  local check
  check=$("${MEASURE[@]}" check ingest-30k "$OUT/e2e.out" "$stored" "$outbox") || die "the 30k ingest did not end as expected"
  echo "$record" | "${MEASURE[@]}" annotate "$results" --set "step=ingest → triage → grouped outbox tickets, 30,000 new findings (fresh store)" \
    --set "target=< 2 s" --set "target_s=2" --set "check=$check"

  echo "== e2e: identical re-ingest (writes counted, then timed)" >&2
  local writes
  writes=$("${MEASURE[@]}" writes --label "re-ingest 30k" --db "$db" --stdout "$OUT/e2e.out" --stderr "$OUT/e2e.err" -- \
    "$MUSTER" --db "$db" ingest --json "$file30")
  "${MEASURE[@]}" check noop "$OUT/e2e.out" >/dev/null || die "re-ingest was not a no-op"
  record=$("${MEASURE[@]}" run --label "re-ingest 30k" --runs "$RUNS" \
    --stdout "$OUT/e2e.out" --stderr "$OUT/e2e.err" -- "$MUSTER" --db "$db" ingest --json "$file30")
  check=$("${MEASURE[@]}" check writes "$writes")
  echo "$record" | "${MEASURE[@]}" annotate "$results" --set "step=identical re-ingest of the same 30,000-result report" \
    --set "target=< 0.3 s, ≤ 2 store writes" --set "target_s=0.3" --set "writes=$writes" --set "check=$check"

  echo "== e2e: 100k open findings, then sweeps" >&2
  local base=$OUT/e2e-sweep-base.db sweep_db=$OUT/e2e-sweep.db
  record=$("${MEASURE[@]}" run --label "ingest 100k" --runs 1 --fresh-db "$base" \
    --stdout "$OUT/e2e.out" --stderr "$OUT/e2e.err" -- "$MUSTER" --db "$base" ingest --json "$file100")
  stored=$("${MEASURE[@]}" count findings "$base")
  outbox=$("${MEASURE[@]}" count outbox "$base")
  check=$("${MEASURE[@]}" check open-100k "$stored" "$outbox") || die "the 100k ingest did not end as expected"
  echo "$record" | "${MEASURE[@]}" annotate "$results" --set "step=ingest → triage → tickets, 100,000 new findings (sets up the sweep; one run)" \
    --set "check=$check"
  # SQLite's own copy (backup API) of the base store before each run, so each sweep does the same work
  local label at when
  for when in "1 hour" "29 days"; do
    at=$(date -u -d "now + $when" +%Y-%m-%dT%H:%M:%SZ)
    label="sweep 100k open, now + $when"
    record=$("${MEASURE[@]}" run --label "$label" --runs "$RUNS" --copy-db "$base" "$sweep_db" \
      --stdout "$OUT/e2e.out" --stderr "$OUT/e2e.err" -- "$MUSTER" --db "$sweep_db" --json sweep --now "$at")
    check=$(python3 -c 'import json,sys; print("report " + json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")))' "$OUT/e2e.out")
    # and the writes of one such sweep
    python3 -c 'import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d)' "$base" "$sweep_db"
    writes=$("${MEASURE[@]}" writes --label "$label" --db "$sweep_db" --stdout "$OUT/e2e.out" --stderr "$OUT/e2e.err" -- \
      "$MUSTER" --db "$sweep_db" --json sweep --now "$at")
    check="$check; $("${MEASURE[@]}" check writes "$writes")"
    echo "$record" | "${MEASURE[@]}" annotate "$results" --set "step=muster sweep --now (ingest + $when), 100,000 open findings" \
      --set "writes=$writes" --set "check=$check"
  done
  rm -f "$db" "$db-wal" "$db-shm" "$base" "$base-wal" "$base-shm" "$sweep_db" "$sweep_db-wal" "$sweep_db-shm"

  echo
  echo "## End to end on the embedded store (median of $RUNS; wall is the targets' unit, on a shared machine)"
  echo
  echo "$(machine_note)"
  echo
  python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| step | CPU s | wall s | peak RSS MiB | runs | target | met? | checked |")
print("|---|---:|---:|---:|---:|---|---|---|")
for r in rows:
    target = r.get("target", "—")
    met = "—"
    if "target_s" in r:
        ok = r["wall_s"] < r["target_s"]
        if "writes" in r:
            ok = ok and r["writes"]["write_transactions"] <= 2
        met = "**yes**" if ok else "**no**"
    print(f'| {r["step"]} | {r["cpu_s"]:.3f} | {r["wall_s"]:.3f} | {r["rss_mib"]:.1f} | {r["runs"]} | {target} | {met} '
          f'| {r["check"].replace("|", "/")} |')
EOF
}

# --- floor ---------------------------------------------------------------------------------------
run_floor() {
  local n=${SIZES[0]} db=$OUT/floor-src.db scratch=$OUT/floor.db results=$OUT/floor-results.jsonl
  local file cut
  gen "peers-sarif-$n.sarif" sarif --results "$n" --runs 4 --rules 300 --dup 0.2 --seed 7
  gen "peers-trivy-$n.json" trivy --results "$n" --targets 5 --dup 0.2 --seed 7
  : >"$results"
  for file in "$OUT/peers-sarif-$n.sarif" "$OUT/peers-trivy-$n.json"; do
    echo "== floor: muster ingest of $(basename "$file"), then SQLite alone storing the same rows" >&2
    "${MEASURE[@]}" run --label "muster $(basename "$file")" --runs 1 --fresh-db "$db" \
      --stdout "$OUT/floor-muster.out" --stderr "$OUT/floor-muster.err" -- "$MUSTER" --db "$db" ingest --json "$file" |
      "${MEASURE[@]}" annotate "$results" --set "file=$(basename "$file")" --set "tool=muster" >/dev/null
    for cut in "" 300 0; do
      "${MEASURE[@]}" floor "$db" "$scratch" --runs "$RUNS" ${cut:+--body-bytes "$cut"} |
        "${MEASURE[@]}" annotate "$results" --set "file=$(basename "$file")" --set "tool=floor" >/dev/null
    done
  done
  rm -f "$db" "$db-wal" "$db-shm"

  echo
  echo "## SQLite's own floor for storing muster's findings (CPU = user + sys, median of $RUNS)"
  echo
  echo "$(machine_note)"
  echo
  "${MEASURE[@]}" floor-table "$results" "$OUT/peers-results.jsonl"
}

case $MODE in
  peers) run_peers ;;
  e2e) run_e2e ;;
  floor) run_floor ;;
  all)
    run_peers
    run_e2e
    run_floor
    ;;
esac
