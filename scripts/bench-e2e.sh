#!/usr/bin/env bash
# What users run against the kernels (issue 25): `sernn train` end to end on SHD-format data with
# realistic event counts (samples/s of its second epoch, from metrics.jsonl: data pipeline,
# penalty and step, evaluation excluded) beside `sernn bench train`'s step on random input at the
# same shape, measured in the same call on the same machine; and the whole command's wall time
# (loading, every epoch, evaluation included).
# Usage: scripts/bench-e2e.sh [OUT_JSON]        (default docs/benchmarks/train_e2e_<device>.json)
#   env: DEVICE=cpu (or cuda), THREADS=2, HIDDEN=100, STEPS=200, BATCH=128, TRAIN=1280 (samples a
#        training epoch), TEST=256, EVENTS=4800 (mean events per sample; real SHD: a few thousand),
#        EPOCHS=2, SERNN=build/sernn
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sernn="${SERNN:-$root/build/sernn}"
device="${DEVICE:-cpu}" threads="${THREADS:-2}" hidden="${HIDDEN:-100}" steps="${STEPS:-200}" batch="${BATCH:-128}"
train="${TRAIN:-1280}" test="${TEST:-256}" events="${EVENTS:-4800}" epochs="${EPOCHS:-2}"
out_json="${1:-$root/docs/benchmarks/train_e2e_${device%%:*}.json}"
[ "$epochs" -ge 2 ] || { echo "bench-e2e: EPOCHS must be at least 2 (the first epoch warms up)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

grid=()  # the shipped 5 x 5 x 4 grid at N = 100, a line of neurons otherwise
[ "$hidden" = 100 ] || grid=(--set "model.grid=$hidden,1,1")
"$sernn" data synth-shd --out "$work/shd" --train "$train" --test "$test" --events "$events" --seed 5 > /dev/null
"$sernn" bench train --model shd --hidden "$hidden" --steps "$steps" --batch "$batch" --impl fast \
  --device "$device" --threads "$threads" --json "$work/step.json" > "$work/step.log"
t0=$(date +%s.%N)
"$sernn" train --config "$root/configs/shd_sernn.toml" --out "$work/run" --threads "$threads" --quiet \
  --set "task.data_dir=$work/shd" --set "task.bins=$steps" --set "model.hidden=$hidden" \
  --set "train.batch_size=$batch" --set "train.epochs=$epochs" --set "train.device=$device" \
  "${grid[@]}" > "$work/train.log"
wall=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")  # the whole command: loading, every epoch, evaluation

python3 - "$work" "$out_json" "$device" "$threads" "$hidden" "$steps" "$batch" "$train" "$events" "$test" "$wall" <<'EOF'
import json, os, sys
work, out, device, threads, hidden, steps, batch, train, events, test, wall = sys.argv[1:]
step = json.load(open(os.path.join(work, "step.json")))
step_rate = step["results"][0]["samples_per_s"]
epochs = [json.loads(l) for l in open(os.path.join(work, "run", "metrics.jsonl")) if l.strip()]
e2e = epochs[-1]["samples_per_s"]
shape = {"hidden": int(hidden), "steps": int(steps), "batch": int(batch)}
report = {
    "device": step["device"],
    "threads": int(threads),
    "data": {"train_samples": int(train), "test_samples": int(test), "mean_events_per_sample": int(events),
             "channels": 700},
    "epochs": len(epochs),
    # `sernn train` from start to end: reading and binning the data, every epoch, every evaluation.
    "train_command_wall_s": float(wall),
    "results": [
        dict(impl="bench_train_step", samples_per_s=step_rate, **shape),
        dict(impl="sernn_train_e2e", samples_per_s=e2e, epoch=epochs[-1]["epoch"], **shape),
    ],
    "e2e_over_step": e2e / step_rate,
}
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
json.dump(report, open(out, "w"), indent=2)
print(f"{report['device']}: bench step {step_rate:.0f} samples/s, sernn train end to end {e2e:.0f} samples/s "
      f"({report['e2e_over_step']:.2f}x the step); {len(epochs)} epochs with evaluation in {float(wall):.1f} s; {out}")
EOF
