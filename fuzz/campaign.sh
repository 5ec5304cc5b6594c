#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after the other on one core, and
# prints one Markdown table row per target for FUZZING.md. Needs nightly and cargo-fuzz; seed
# the corpora first with ./seed.sh.
#   ./campaign.sh [SECONDS] [TARGET...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
seconds="${1:-600}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build >&2
mkdir -p logs
echo "| target | seeds | time | executions | exec/s | coverage (edges) | corpus after | peak RSS | crashes |"
echo "|---|---|---|---|---|---|---|---|---|"
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  seeds=$(ls "corpus/$target" | wc -l)
  log="logs/$target.log"
  status=0
  cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')
  corpus=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')
  crashes=$([ "$status" -eq 0 ] && echo 0 || echo "exit $status, see $log")
  echo "| $target | $seeds | ${seconds} s | $runs | $(( ${runs:-0} / seconds )) | $cov | $corpus | ${rss} MB | $crashes |"
done
