#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the real samples (never committed: the samples are not
# ours to copy) plus the regression inputs kept in fuzz/regressions/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
samples="${MUSTER_SAMPLES:-$here/../../shared/samples}"
[ -d "$samples" ] || { echo "samples not found at $samples (set MUSTER_SAMPLES)" >&2; exit 1; }

seed() { # target, sample folders...
  local target=$1; shift
  mkdir -p "$here/corpus/$target"
  for folder in "$@"; do
    find "$samples/$folder" -maxdepth 1 -type f -exec cp {} "$here/corpus/$target/" \;
  done
  if [ -d "$here/regressions" ]; then
    find "$here/regressions" -maxdepth 1 -type f -exec cp {} "$here/corpus/$target/" \;
  fi
  echo "$target: $(ls "$here/corpus/$target" | wc -l) seeds"
}

seed parse_sarif sarif
seed parse_trivy trivy
seed parse_grype grype
seed parse_snyk snyk
seed parse_github github_webhooks
seed parse_asff asff
seed parse_ocsf ocsf
seed parse_auto sarif trivy grype snyk github_webhooks asff ocsf
