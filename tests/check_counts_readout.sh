#!/usr/bin/env bash
# scripts/counts_readout.py, the memory task's feed-forward baseline (issue 38), tells the tasks
# apart: the linear readout of the binned counts solves the bands task (each class its own band)
# and stays near chance on the memory task (class = (cue band + probe band) mod 5), where
# `--rule pairs` (the ordered pair: linearly separable) is solved again.
# usage: tests/check_counts_readout.sh SERNN WORK_DIR
set -euo pipefail
sernn="$1" work="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SNNTORCH_DIR="${SNNTORCH_DIR:-$("$root/scripts/peer-snntorch.sh")}"
rm -rf "$work" && mkdir -p "$work"
acc() { /usr/bin/python3 "$root/scripts/counts_readout.py" "$1" --bins 20 --epochs 40 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["test_acc"])'; }
"$sernn" data synth-shd --out "$work/bands" --train 600 --test 200 --seed 2 > /dev/null
"$sernn" data synth-shd --task memory --out "$work/sum" --train 600 --test 400 --seed 2 > /dev/null
"$sernn" data synth-shd --task memory --rule pairs --out "$work/pairs" --train 1500 --test 400 --seed 2 > /dev/null
bands=$(acc "$work/bands") sum=$(acc "$work/sum") pairs=$(acc "$work/pairs")
echo "linear readout of the counts: bands $bands, memory (sum) $sum (chance 0.2), memory (pairs) $pairs (chance 0.05)"
python3 -c "import sys; b, s, p = map(float, sys.argv[1:]); sys.exit(0 if b > 0.8 and s < 0.32 and p > 0.5 else 1)" \
  "$bands" "$sum" "$pairs"
