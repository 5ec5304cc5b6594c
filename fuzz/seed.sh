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

# The HTTP body decoders: gzipped samples for the webhook body path, our own fixtures for the
# Slack and tracker decoders, and the real GitHub `issues` deliveries (first byte 1 selects the
# GitHub decoder in tracker_event).
mkdir -p "$here/corpus/gzip_body" "$here/corpus/slack_action" "$here/corpus/tracker_event"
for sample in "$samples"/{sarif,trivy,grype,snyk,asff}/*; do
  gzip -9 -c "$sample" > "$here/corpus/gzip_body/$(basename "$sample").gz"
done
cp "$here"/seeds/slack_action/* "$here/corpus/slack_action/"
cp "$here"/seeds/tracker_event/* "$here/corpus/tracker_event/"
for delivery in "$samples"/github_webhooks/github_issues_*; do
  { printf '\001'; cat "$delivery"; } > "$here/corpus/tracker_event/$(basename "$delivery")"
done
for target in gzip_body slack_action tracker_event; do
  echo "$target: $(ls "$here/corpus/$target" | wc -l) seeds"
done
