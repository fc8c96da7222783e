#!/usr/bin/env bash
# One command for a machine with a GPU, sized for one device call of about 8 minutes on an H100:
# builds sernn against the CUDA torch it finds, runs the `gpu` tests, and measures what the issues
# ask of the GPU, each stage bounded by its own timeout, every figure in a JSON file naming the
# device (copy them into docs/benchmarks/ and commit them). At most 8 files under OUT_DIR (the
# device tool returns 8):
#   summary.txt         every stage's output, nvidia-smi, and a table of stages (ok / FAILED)
#   gpu_tests.log       ctest -L gpu, then the Python tests on the CUDA torch
#   train_gpu.json      `sernn bench train`: the kernel step, N = 100 and 1024, T = 200, fast and
#                       reference paths
#   train_e2e_gpu.json  `sernn train` end to end on full-size synthetic SHD (8,156 / 2,264 samples,
#                       700 channels, T = 200, B = 128, the shipped seRNN penalty, E2E_EPOCHS = 50
#                       epochs, evaluation included: train_command_wall_s) beside the step
#   ensembles_gpu.json  K = 16 spiking networks as one ensemble against one network at a time
#   sweep1001_gpu.json  a timed part (SWEEP_PART networks) of the 1,001-network rate one-choice
#                       sweep, 10 epochs, --ensemble auto, with its extrapolation to 1,001 labelled
#   snntorch_gpu.json, python_train_gpu.json  snnTorch's loop on the same GPU, and against sernn's
#                       Python package (when SNNTORCH_DIR or .peers/snntorch holds snnTorch)
# SEED000=1 adds one spiking group of seed 000 at paper scale, timed for SEED000_TIMEOUT s (its
# table goes into summary.txt; a rerun resumes it): too long for the same call, so ask for it alone
# (SEED000=1 ONLY=seed000).
#
# usage: scripts/gpu-check.sh [--dry-run] [OUT_DIR]    (default OUT_DIR: $OUT, else build-gpu/check)
#   --dry-run  checks this script on the CPU without the CUDA build: every benchmark stage at a
#              tiny size with build/sernn (SERNN) on device cpu; no gpu tests.
# env: BUILD_DIR (build-gpu), PYTHON (an interpreter with torch), SNNTORCH_DIR, ONLY (stages to run,
#      space-separated, from: tests kernel e2e ensembles sweep snntorch seed000), E2E_EPOCHS (50),
#      SWEEP_PART (128), and per stage a timeout in seconds: TESTS_TIMEOUT (150), KERNEL_TIMEOUT (60),
#      E2E_TIMEOUT (120), ENSEMBLES_TIMEOUT (100), SWEEP_TIMEOUT (100), SNNTORCH_TIMEOUT (90),
#      SEED000_TIMEOUT (420).
# The build is scripts/build-cuda.sh, the recipe CI compiles with (scripts/test-torch2.sh), for this
# machine's GPUs (TORCH_CUDA_ARCH_LIST from nvidia-smi), only the targets this check runs. On a bare
# GPU machine carry .gpu-kit (scripts/gpu-kit.sh) and .peers (scripts/peer-snntorch.sh .peers).
# Exit status: 0 when every stage ran and wrote its JSON; 1 when a test, a benchmark or its JSON
# failed (the others still run); 3 when there is no CUDA torch (said before anything is built).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dry=0
if [ "${1:-}" = --dry-run ]; then dry=1 && shift; fi
out="${1:-${OUT:-$root/build-gpu/check}}"
build="${BUILD_DIR:-$root/build-gpu}"
mkdir -p "$out"
py="${PYTHON:-python3}"
"$py" -c 'import torch' 2>/dev/null || py=/usr/bin/python3
stamp() { echo "[gpu-check $(date +%H:%M:%S)] $*" | tee -a "$out/summary.txt"; }
wants() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
failed=0
table=()
# stage NAME TIMEOUT JSON|- COMMAND...: runs COMMAND under TIMEOUT seconds, its output into
# summary.txt; the stage fails on a non-zero exit, a timeout, or a JSON that is missing or unreadable.
stage() {
  local name="$1" limit="$2" json="$3" t0 rc verdict
  shift 3
  stamp "$name (at most $limit s)"
  t0=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee -a "$out/summary.txt"
  rc=${PIPESTATUS[0]}
  verdict=ok
  if [ "$rc" = 124 ]; then verdict="FAILED (timed out after $limit s)"
  elif [ "$rc" != 0 ]; then verdict="FAILED (exit $rc)"
  elif [ "$json" != - ] && ! "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d.get("device") or d.get("device_name")' "$json" 2>/dev/null; then
    verdict="FAILED (no readable $(basename "$json") naming the device)"
  fi
  [ "$verdict" = ok ] || failed=1
  table+=("$(printf '%-10s %5d s  %s' "$name" $(( $(date +%s) - t0 )) "$verdict")")
}

if [ $dry = 1 ]; then
  sernn="${SERNN:-$root/build/sernn}"
  device=cpu
  [ -x "$sernn" ] || { stamp "dry run: no $sernn (build it first: scripts/build.sh)"; exit 1; }
  stamp "dry run on the CPU with $sernn: tiny sizes, no build, no gpu tests"
else
  stamp "root $root, build $build, out $out"
  nvidia-smi >> "$out/summary.txt" 2>&1 || stamp "nvidia-smi failed (no GPU?)"
  BUILD_DIR="$build" PYTHON="$py" TARGETS="${TARGETS:-sernn sernn_gpu_tests sernn_ops}" \
    bash "$root/scripts/build-cuda.sh" > "$build.log" 2>&1
  rc=$?
  if [ $rc = 3 ]; then
    stamp "$(tail -1 "$build.log"): nothing to check here (the gpu tests would only skip)"
    exit 3
  elif [ $rc != 0 ]; then
    stamp "BUILD FAILED (errors from $build.log follow)"
    grep -E -A3 "error|Error" "$build.log" | head -80 | tee -a "$out/summary.txt"
    exit 1
  fi
  stamp "built"
  grep -E "^build-cuda: torch|sernn: (Torch|CUDA)" "$build.log" | tee -a "$out/summary.txt"
  sernn="$build/sernn"
  device=cuda
fi

gpu_tests() {
  ctest --test-dir "$build" -L gpu --output-on-failure > "$out/gpu_tests.log" 2>&1
  local rc=$?
  # The CPU-only Python tests that read SHD files with h5py (not on a bare GPU machine) stay out.
  SNNTORCH_DIR="${SNNTORCH_DIR:-$root/.peers}" ctest --test-dir "$build" -L python \
    -E "Python\.(example|install|train_parity)" --output-on-failure >> "$out/gpu_tests.log" 2>&1 || rc=1
  grep -E "tests passed|tests failed|\(Failed\)|Skipped" "$out/gpu_tests.log" | head -20
  return $rc
}
export -f gpu_tests
export out build root py
if [ $dry = 0 ] && wants tests; then stage tests "${TESTS_TIMEOUT:-150}" - bash -c gpu_tests; fi

# Sizes: the figures the issues ask for, or a few seconds' worth in a dry run.
if [ $dry = 1 ]; then
  steps=20 e2e=(TRAIN=256 TEST=64 EPOCHS=2 STEPS=20 EVENTS=400) ens=(RUNS=2 RUNS_ONE=1 K=2 EPOCHS=1)
  sweep=(RUNS=4 RUNS_ONE=1 K=4 EPOCHS=1) hidden=100
else
  steps=200 e2e=(TRAIN=8156 TEST=2264 EPOCHS="${E2E_EPOCHS:-50}" STEPS=200 EVENTS=4800)
  ens=(RUNS=16 RUNS_ONE=1 K=16 EPOCHS=2) sweep=(RUNS="${SWEEP_PART:-128}" RUNS_ONE=2 K=auto EPOCHS=10) hidden=100,1024
fi
if wants kernel; then
  stage kernel "${KERNEL_TIMEOUT:-60}" "$out/train_gpu.json" "$sernn" bench train --device "$device" \
    --hidden "$hidden" --steps "$steps" --impl fast,reference --repeats 3 --json "$out/train_gpu.json"
fi
if wants e2e; then
  stage e2e "${E2E_TIMEOUT:-120}" "$out/train_e2e_gpu.json" env SERNN="$sernn" DEVICE="$device" THREADS=0 "${e2e[@]}" \
    bash "$root/scripts/bench-e2e.sh" "$out/train_e2e_gpu.json"
fi
if wants ensembles; then
  stage ensembles "${ENSEMBLES_TIMEOUT:-100}" "$out/ensembles_gpu.json" env SERNN="$sernn" DEVICE="$device" \
    MODELS=spiking "${ens[@]}" bash "$root/scripts/bench-ensembles.sh" "$out/ensembles_gpu.json"
fi
if wants sweep; then
  stage sweep "${SWEEP_TIMEOUT:-100}" "$out/sweep1001_gpu.json" env SERNN="$sernn" DEVICE="$device" MODELS=rate \
    EXTRAPOLATE_TO=1001 "${sweep[@]}" bash "$root/scripts/bench-ensembles.sh" "$out/sweep1001_gpu.json"
fi
snn="${SNNTORCH_DIR:-$root/.peers}"
if wants snntorch; then
  if [ -d "$snn/snntorch" ] || "$py" -c 'import snntorch' 2>/dev/null; then
    from=()  # a checkout, else the installed one
    [ -d "$snn/snntorch" ] && from=(--snntorch "$snn")
    pkg="$build/python"
    [ $dry = 1 ] && pkg="$(dirname "$sernn")/python"
    stage snntorch "${SNNTORCH_TIMEOUT:-90}" "$out/snntorch_gpu.json" "$py" "$root/bench/snntorch_train.py" \
      "${from[@]}" --device "$device" --hidden "$hidden" --steps "$steps" --json "$out/snntorch_gpu.json"
    stage python "${SNNTORCH_TIMEOUT:-90}" "$out/python_train_gpu.json" env PYTHONPATH="$pkg" "$py" \
      "$root/bench/python_train.py" "${from[@]}" --device "$device" --hidden "$hidden" --steps "$steps" \
      --json "$out/python_train_gpu.json"
  else
    stamp "no snnTorch at $snn nor installed: the side-by-side is missing"
    table+=("snntorch       0 s  FAILED (no snnTorch)") && failed=1
  fi
fi
if [ "${SEED000:-0}" = 1 ] && wants seed000; then
  # Issue 27: one spiking group of seed 000 at paper scale (101 networks, 50 epochs, T = 200,
  # B = 128, --ensemble auto) on full-size synthetic SHD, timed; a rerun resumes it.
  seed000() {
    local shd="$build/seed000_shd"
    [ -f "$shd/shd_train.h5" ] || "$sernn" data synth-shd --out "$shd" --train 8156 --test 2264 --events 4800 --seed 5
    SERNN="$sernn" bash "$root/scripts/reproduce_seed000.sh" --model spiking --scale paper --data "$shd" \
      --groups "${SEED000_GROUP:-l1}" --out "$build/seed000_paper" -- --set "train.device=$device" --quiet | tail -20
    [ -f "$build/seed000_paper/results.csv" ] && cut -d, -f1-12 "$build/seed000_paper/results.csv" | head -120
  }
  export -f seed000
  export sernn device
  stage seed000 "${SEED000_TIMEOUT:-420}" - bash -c seed000
fi
stamp "stages:"
printf '%s\n' "${table[@]}" | tee -a "$out/summary.txt"
stamp "done: $([ $failed = 0 ] && echo 'every stage ok' || echo 'a stage FAILED')"
exit $failed
