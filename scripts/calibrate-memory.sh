#!/usr/bin/env bash
# The calibration of `sernn data synth-shd --task memory` (issue 38; docs/tasks.md), a benchmark
# that prints numbers, not a timed test: the shipped spiking network (configs/shd_sernn.toml) and
# the same network with its recurrent weight held at zero (model.recurrent = false), each trained
# on the same data for EPOCHS with each of SEEDS, and a linear readout of the binned counts
# (scripts/counts_readout.py: no recurrence, no membranes). Final test accuracies to a JSON file,
# a table to stdout. Exits 1 when the recurrent network's mean does not beat the W = 0 mean by
# MARGIN, or the linear readout is not within 0.1 of chance (the task would not need memory).
# Usage: scripts/calibrate-memory.sh [OUT_JSON]      (default docs/benchmarks/memory_task_cpu.json)
#   env: TRAIN=8192 TEST=1024 EPOCHS=10 SEEDS="1 2 3 4 5" MARGIN=0.05 DATA_SEED=1 THREADS=2
#        SYNTH_ARGS="" (more `synth-shd --task memory` options), SERNN=build/sernn, DRY_RUN=1 (tiny
#        sizes, no margin check: the plumbing only, for ctest)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sernn="${SERNN:-$root/build/sernn}"
train="${TRAIN:-8192}" test="${TEST:-1024}" epochs="${EPOCHS:-10}" seeds="${SEEDS:-1 2 3 4 5}"
margin="${MARGIN:-0.05}" data_seed="${DATA_SEED:-1}" threads="${THREADS:-2}"
sizes=()
if [ "${DRY_RUN:-0}" = 1 ]; then
  train=64 test=32 epochs=1 seeds="1" sizes=(--set task.bins=20 --set model.hidden=27 --set model.grid=3,3,3)
fi
out_json="${1:-$root/docs/benchmarks/memory_task_cpu.json}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086
"$sernn" data synth-shd --task memory --out "$work/data" --train "$train" --test "$test" --seed "$data_seed" \
  ${SYNTH_ARGS:-} > /dev/null
start=$(date +%s)
for seed in $seeds; do
  for recurrent in true false; do
    echo "calibrate-memory: seed $seed, recurrent $recurrent ($epochs epochs of $train samples)" >&2
    "$sernn" train --config "$root/configs/shd_sernn.toml" --out "$work/run_${recurrent}_$seed" --quiet \
      --threads "$threads" --seed "$seed" --set "task.data_dir=$work/data" --set "train.epochs=$epochs" \
      --set "model.recurrent=$recurrent" "${sizes[@]}" > /dev/null
  done
done
peers="${SNNTORCH_DIR:-$("$root/scripts/peer-snntorch.sh")}"
SNNTORCH_DIR="$peers" /usr/bin/python3 "$root/scripts/counts_readout.py" "$work/data" --bins 50 > "$work/ff.json"
wall=$(( $(date +%s) - start ))

python3 - "$work" "$out_json" "$seeds" "$train" "$test" "$epochs" "$margin" "$wall" "${DRY_RUN:-0}" \
  "${SYNTH_ARGS:-}" <<'PY'
import json, os, statistics, sys
work, out, seeds, train, test, epochs, margin, wall, dry, synth = sys.argv[1:]
seeds = [int(s) for s in seeds.split()]
def final(kind, seed):
    lines = [json.loads(l) for l in open(os.path.join(work, f"run_{kind}_{seed}", "metrics.jsonl")) if l.strip()]
    return lines[-1]["test_acc"]
w = [final("true", s) for s in seeds]
w0 = [final("false", s) for s in seeds]
ff = json.load(open(os.path.join(work, "ff.json")))
mean = lambda xs: sum(xs) / len(xs)
se = lambda xs: statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0
result = {"task": "sernn data synth-shd --task memory " + synth, "train": int(train), "test": int(test),
          "epochs": int(epochs), "config": "configs/shd_sernn.toml", "seeds": seeds,
          "recurrent_test_acc": w, "w_zero_test_acc": w0, "counts_readout_test_acc": ff["test_acc"],
          "chance": ff["chance"], "recurrent_mean": mean(w), "recurrent_se": se(w), "w_zero_mean": mean(w0),
          "w_zero_se": se(w0), "margin": mean(w) - mean(w0), "required_margin": float(margin),
          "wall_s": int(wall), "dry_run": dry == "1"}
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
json.dump(result, open(out, "w"), indent=2)
print(f"memory task, {epochs} epochs of {train} samples, seeds {seeds} ({wall} s):")
print(f"  shipped spiking network (W)   {mean(w):.3f} ± {2 * se(w):.3f}  {' '.join(f'{x:.3f}' for x in w)}")
print(f"  same network, W held at zero  {mean(w0):.3f} ± {2 * se(w0):.3f}  {' '.join(f'{x:.3f}' for x in w0)}")
print(f"  linear readout of the counts  {ff['test_acc']:.3f}   (chance {ff['chance']:.3f})")
print(f"wrote {out}")
if dry != "1":
    if mean(w) - mean(w0) < float(margin):
        sys.exit(f"calibrate-memory: W's mean {mean(w):.3f} does not beat W = 0's {mean(w0):.3f} by {margin}")
    if ff["test_acc"] > ff["chance"] + 0.1:
        sys.exit(f"calibrate-memory: the linear readout reaches {ff['test_acc']:.3f}: the task needs no memory")
PY
