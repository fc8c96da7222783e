#!/usr/bin/env bash
# Installs what is missing, builds, trains the default 100-neuron rate seRNN on the one-choice
# inference task, and prints where the results are. Runs go to runs/ (override with RUNS_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
sernn="${BUILD_DIR:-$root/build}/sernn"
runs="${RUNS_DIR:-$root/runs}"
mkdir -p "$runs"

echo "== rate seRNN on one-choice inference (configs/rate_onechoice.toml)"
"$sernn" train --config "$root/configs/rate_onechoice.toml" --out "$runs/demo_rate" --force

echo
echo "Results:"
echo "  rate seRNN:    $runs/demo_rate/   (metrics.jsonl, weights/epoch_*.csv, checkpoint.pt, config.json)"
