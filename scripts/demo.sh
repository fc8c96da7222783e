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

"$sernn" report "$runs/demo_rate"   # analysis.json (modularity, entropies, spectra) + report.html

echo
echo "== spiking seRNN on synthetic SHD (configs/shd_sernn.toml, shortened)"
# Real SHD: `sernn data fetch-shd --dir data/shd` and then
#   sernn train --config configs/shd_sernn.toml --out runs/shd --set task.data_dir=data/shd
data="$runs/synthetic_shd"
if [ ! -f "$data/shd_train.h5" ]; then
  "$sernn" data synth-shd --out "$data" --train 2048 --test 512 --seed 1
fi
"$sernn" train --config "$root/configs/shd_sernn.toml" --out "$runs/demo_spiking" --force \
  --set task.data_dir="$data" --set task.bins=50 --set train.epochs=5 --set train.batch_size=32 \
  --set train.lr=0.005 --set regularizer.gamma=0.001

echo
echo "== E/I rate network (Dale's law, learnable time constants, noise) on delayed match-to-sample"
"$sernn" train --config "$root/configs/rate_dale_workingmemory.toml" --out "$runs/demo_workingmemory" --force
"$sernn" report "$runs/demo_workingmemory"   # includes fixed points and the Jacobian spectrum

echo
echo "== latent boundaries of low-rank spiking populations (seed 002): rank-1 inhibitory, rank-2 E/I"
"$sernn" boundary --out "$runs/demo_boundary"
"$sernn" boundary --network ei --out "$runs/demo_boundary_ei"

echo
echo "Results:"
echo "  rate seRNN:    $runs/demo_rate/      (metrics.jsonl, weights/epoch_*.csv, checkpoint.pt, config.json, coords.csv,"
echo "                 analysis.json, report.html: open it in a browser)"
echo "  spiking seRNN: $runs/demo_spiking/   (same files; metrics also hold beta_mean/min/max and rate_hidden)"
echo "  E/I network:   $runs/demo_workingmemory/ (metrics hold tau_exc_mean/tau_inh_mean; analysis.json has \"dynamics\")"
echo "  boundaries:    $runs/demo_boundary/boundary.html, $runs/demo_boundary_ei/boundary.html"
