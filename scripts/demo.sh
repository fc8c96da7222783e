#!/usr/bin/env bash
# Installs what is missing, builds, trains a 100-neuron rate seRNN and an L1 network of the same
# total weight on the one-choice inference task and prints how they differ (seed 000's effect),
# then a spiking seRNN (and the same from Python), an E/I network and latent boundaries, and prints
# where the results are.
# Runs go to runs/ (override with RUNS_DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
sernn="${BUILD_DIR:-$root/build}/sernn"
runs="${RUNS_DIR:-$root/runs}"
mkdir -p "$runs"

echo "== the paper's effect: a rate seRNN and an L1 network of about the same total weight,"
echo "   one-choice inference (configs/rate_onechoice.toml), trained together as one ensemble"
# γ chosen from the seed-000 small run (README): both end near Σ|W| ≈ 50 and stay accurate.
"$sernn" sweep --config "$root/configs/rate_onechoice.toml" --out "$runs/demo_pair" --groups l1,sernn \
  --gammas "l1=0.0064,sernn=0.4" --ensemble 2 --quiet
# results.csv: group, γ, ..., test_acc (8), q (10), entropy_weights (11), entropy_communicability (12),
# total_weight (15): the seRNN is the more modular, lower-entropy network at the same total weight.
awk -F, 'NR == 1 { printf "%-7s %-7s %-9s %-6s %-7s %-7s %-7s\n", "group", "gamma", "test_acc", "Q", "H(W)", "H(C)", "sum|W|" }
         NR > 1  { printf "%-7s %-7s %-9.3f %-6.3f %-7.3f %-7.3f %-7.1f\n", $1, $2, $8, $10, $11, $12, $15 }' \
  "$runs/demo_pair/results.csv"
rm -rf "$runs/demo_rate"
cp -r "$runs/demo_pair/runs/sernn/gamma_0.4/seed_1" "$runs/demo_rate"
"$sernn" report "$runs/demo_rate"   # analysis.json (modularity, entropies, spectra) + report.html

echo
echo "== spiking seRNN on the synthetic memory task (configs/shd_sernn.toml, shortened; docs/tasks.md):"
echo "   class = (cue band + probe band) mod 5, so the network must carry the cue to the probe"
# Real SHD: `sernn data fetch-shd --dir data/shd` and then
#   sernn train --config configs/shd_sernn.toml --out runs/shd --set task.data_dir=data/shd
memory="$runs/synthetic_memory"
if [ ! -f "$memory/shd_train.h5" ]; then
  "$sernn" data synth-shd --task memory --out "$memory" --train 4096 --test 512 --seed 1
fi
"$sernn" train --config "$root/configs/shd_sernn.toml" --out "$runs/demo_spiking" --force --quiet \
  --set task.data_dir="$memory" --set train.epochs=5 --set train.lr=0.003
# The recurrence ablation (docs/analysis.md): the same network with its recurrent weight zeroed.
"$sernn" analyze "$runs/demo_spiking" --max-hops -1 --nulls 0 > /dev/null
python3 - "$runs/demo_spiking/analysis.json" <<'PY'
import json, sys
last = json.load(open(sys.argv[1]))[-1]
print(f"epoch {last['epoch']}: test accuracy {last['test_acc']:.3f}, with W zeroed {last['ablation_test_acc']:.3f} "
      f"(chance 0.2; a linear readout of the counts: 0.2)")
PY
data="$runs/synthetic_shd"   # the bands task, for the Python example
if [ ! -f "$data/shd_train.h5" ]; then
  "$sernn" data synth-shd --out "$data" --train 2048 --test 512 --seed 1
fi

echo
echo "== the same network from Python: the seed's snnTorch notebook ported to sernn (examples/python)"
build="${BUILD_DIR:-$root/build}"
py="$(sed -n 's/^SERNN_PYTHON:FILEPATH=//p' "$build/CMakeCache.txt")"
if [ -n "$py" ]; then
  PYTHONPATH="$build/python" "$py" "$root/examples/python/seRSNN_shd.py" --data "$data" --epochs 2 \
    --max-train 512 --steps 50 --dt 0.02 --json "$runs/demo_python.json"
else
  echo "(no Python with the torch sernn builds against: skipped; README \"sernn from Python\")"
fi

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
echo "  L1 vs seRNN:   $runs/demo_pair/      (results.csv, results_epochs.csv, runs/{l1,sernn}/...; sernn report for the figures)"
echo "  rate seRNN:    $runs/demo_rate/      (metrics.jsonl, weights/epoch_*.csv, checkpoint.pt, config.json, coords.csv,"
echo "                 analysis.json, report.html: open it in a browser)"
echo "  spiking seRNN: $runs/demo_spiking/   (same files; metrics also hold beta_mean/min/max and rate_hidden;"
echo "                 analysis.json: test_acc and ablation_test_acc, with W zeroed, per epoch)"
echo "  from Python:   $runs/demo_python.json (examples/python/seRSNN_shd.py: sernn.SpikingNetwork, seRNNPenalty)"
echo "  E/I network:   $runs/demo_workingmemory/ (metrics hold tau_exc_mean/tau_inh_mean; analysis.json has \"dynamics\")"
echo "  boundaries:    $runs/demo_boundary/boundary.html, $runs/demo_boundary_ei/boundary.html"
