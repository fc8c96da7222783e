#!/usr/bin/env bash
# One command for any machine with a GPU: builds sernn against the Torch it finds (a CUDA torch
# enables the fused kernels), runs the `gpu` tests and the GPU benchmarks, and writes everything
# under OUT_DIR at most 7 files (the device tool returns 8, one is left for a console log):
# summary.txt (with nvidia-smi), build.log, gpu_tests.log, train_gpu.json (sernn fast and
# reference), train_e2e_gpu.json (`sernn train` end to end against the step, scripts/bench-e2e.sh),
# snntorch_gpu.json and python_train_gpu.json (when SNNTORCH_DIR or .peers/snntorch holds snnTorch:
# bench/python_train.py, snnTorch's loop against sernn's Python package on the same GPU),
# regularizer_gpu.json (only with REGULARIZER=1) and, with ENSEMBLES=1, ensembles_1001_gpu.json
# and ensembles_gpu.json. The Python tests (`ctest -L python`, with the CUDA case of the fused
# layer) append to gpu_tests.log. Exits non-zero when the build or a gpu or python test fails.
#
# usage: scripts/gpu-check.sh [OUT_DIR]      (default: $OUT, else build-gpu/check)
# env:   BUILD_DIR (default build-gpu), QUICK=1 (fewer benchmark cases), SNNTORCH_DIR,
#        PYTHON (an interpreter with torch, default python3), ENSEMBLES=1 (also the ensemble
#        benchmarks of issue 16 with scripts/bench-ensembles.sh on cuda: the 1,001-network rate
#        one-choice sweep, 10 epochs, --ensemble auto, against 2 networks one at a time
#        (ensembles_1001_gpu.json, bounded by SWEEP1001_TIMEOUT s), then K = 16 spiking and rate
#        members (ensembles_gpu.json, bounded by ENSEMBLES_TIMEOUT s)), SEED000=1 (one spiking group of
#        seed 000 at paper scale on full-size synthetic SHD, timed, SEED000_GROUP l1|sernn, bounded by
#        SEED000_TIMEOUT s; its table in summary.txt; a rerun resumes it)
# The build is scripts/build-cuda.sh, the recipe CI compiles with (scripts/test-torch2.sh): the same
# configuration and architectures (TORCH_CUDA_ARCH_LIST, default 8.0;9.0;10.0), only the targets
# this check runs (TARGETS, default: sernn sernn_gpu_tests sernn_ops). On a bare GPU machine, carry
# .gpu-kit (scripts/gpu-kit.sh) along: build-cuda.sh sources it. Carry .peers (a snnTorch checkout:
# .peers/snntorch) for the side-by-side. Exit 3: no CUDA torch (said before anything is built).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-${OUT:-$root/build-gpu/check}}"
build="${BUILD_DIR:-$root/build-gpu}"
mkdir -p "$out"
py="${PYTHON:-python3}"
"$py" -c 'import torch' 2>/dev/null || py=/usr/bin/python3
stamp() { echo "[gpu-check $(date +%H:%M:%S)] $*" | tee -a "$out/summary.txt"; }

stamp "root $root, build $build, out $out"
nvidia-smi >> "$out/summary.txt" 2>&1 || stamp "nvidia-smi failed (no GPU?)"
BUILD_DIR="$build" PYTHON="$py" TARGETS="${TARGETS:-sernn sernn_gpu_tests sernn_ops}" \
  bash "$root/scripts/build-cuda.sh" > "$out/build.log" 2>&1
rc=$?
if [ $rc = 3 ]; then
  stamp "$(tail -1 "$out/build.log"): nothing to check here (the gpu tests would only skip)"
  exit 3
elif [ $rc != 0 ]; then
  stamp "BUILD FAILED (errors from build.log follow)"
  grep -E -A3 "error|Error" "$out/build.log" | head -80
  exit 1
fi
stamp "built"
grep -E "^build-cuda: torch|sernn: (Torch|CUDA)" "$out/build.log" | tee -a "$out/summary.txt"
sernn="$build/sernn"

stamp "gpu tests"
ctest --test-dir "$build" -L gpu --output-on-failure > "$out/gpu_tests.log" 2>&1
tests_rc=$?
tail -5 "$out/gpu_tests.log" | tee -a "$out/summary.txt"
# The CPU-only Python tests that read SHD files with h5py (not on a bare GPU machine) stay out.
stamp "python tests (the package on the CUDA torch)"
SNNTORCH_DIR="${SNNTORCH_DIR:-$root/.peers}" ctest --test-dir "$build" -L python -E "Python\.(example|install|train_parity)" \
  --output-on-failure >> "$out/gpu_tests.log" 2>&1 || tests_rc=1
tail -5 "$out/gpu_tests.log" | tee -a "$out/summary.txt"

hidden=100,1024 steps=200,1000
if [ "${QUICK:-0}" = 1 ]; then steps=200; fi
stamp "sernn bench train --device cuda"
"$sernn" bench train --device cuda --hidden "$hidden" --steps "$steps" --impl fast,reference --repeats 3 \
  --json "$out/train_gpu.json" 2>&1 | tee -a "$out/summary.txt"
# What users run (issue 25): `sernn train` end to end on full-size synthetic SHD (8,156 train / 2,264
# test samples, ~4,800 events each, T = 200, B = 128, the shipped seRNN penalty) beside the step.
stamp "sernn train end to end on the GPU (scripts/bench-e2e.sh)"
SERNN="$sernn" DEVICE=cuda THREADS=0 TRAIN="${E2E_TRAIN:-8156}" TEST="${E2E_TEST:-2264}" EPOCHS="${E2E_EPOCHS:-3}" \
  timeout "${E2E_TIMEOUT:-300}" bash "$root/scripts/bench-e2e.sh" "$out/train_e2e_gpu.json" 2>&1 |
  tee -a "$out/summary.txt"
# At most 8 files come back from the device tool: the regularizer benchmark (measured in earlier
# sessions) runs only when asked for (REGULARIZER=1).
if [ "${REGULARIZER:-0}" = 1 ]; then
  stamp "sernn bench regularizer --device cuda"
  "$sernn" bench regularizer --device cuda --n 100,1024 --k 1,64 --json "$out/regularizer_gpu.json" 2>&1 |
    tail -12 | tee -a "$out/summary.txt"
fi
snn="${SNNTORCH_DIR:-$root/.peers}"
if [ -d "$snn/snntorch" ]; then
  stamp "snnTorch on the same GPU"
  "$py" "$root/bench/snntorch_train.py" --snntorch "$snn" --device cuda --hidden "$hidden" --steps "$steps" \
    --json "$out/snntorch_gpu.json" 2>&1 | tee -a "$out/summary.txt"
  stamp "snnTorch's loop against sernn's Python package (bench/python_train.py)"
  PYTHONPATH="$build/python" "$py" "$root/bench/python_train.py" --snntorch "$snn" --device cuda --hidden "$hidden" \
    --steps "$steps" --json "$out/python_train_gpu.json" 2>&1 | tee -a "$out/summary.txt"
else
  stamp "no snnTorch at $snn: skipped the side-by-side"
fi
if [ "${SEED000:-0}" = 1 ]; then
  # Issue 27: one spiking group of seed 000 at paper scale (101 networks, 50 epochs, T = 200,
  # B = 128, --ensemble auto) on full-size synthetic SHD (no real SHD on the device machine),
  # timed; its results table goes into summary.txt (no file of its own: the device tool's limit).
  stamp "seed 000 spiking, paper scale, group ${SEED000_GROUP:-l1} (scripts/reproduce_seed000.sh)"
  shd="$build/seed000_shd"
  [ -f "$shd/shd_train.h5" ] || "$sernn" data synth-shd --out "$shd" --train 8156 --test 2264 --events 4800 --seed 5
  t0=$(date +%s)
  SERNN="$sernn" timeout "${SEED000_TIMEOUT:-420}" bash "$root/scripts/reproduce_seed000.sh" --model spiking \
    --scale paper --data "$shd" --groups "${SEED000_GROUP:-l1}" --out "$build/seed000_paper" -- \
    --set train.device=cuda --quiet 2>&1 | tail -20 | tee -a "$out/summary.txt"
  stamp "seed 000 group ${SEED000_GROUP:-l1}: $(( $(date +%s) - t0 )) s wall (timeout ${SEED000_TIMEOUT:-420} s)"
  [ -f "$build/seed000_paper/results.csv" ] && cut -d, -f1-12 "$build/seed000_paper/results.csv" | head -120 >> "$out/summary.txt"
fi
if [ "${ENSEMBLES:-0}" = 1 ]; then
  # K = 16 spiking SHD members against one at a time, then the rate one-choice sweep at scale.
  stamp "ensembles on the GPU (issue 16): the 1,001-network rate sweep"
  SERNN="$sernn" DEVICE=cuda MODELS=rate RUNS=1001 RUNS_ONE="${SWEEP1001_RUNS_ONE:-2}" K=auto EPOCHS=10 \
    timeout "${SWEEP1001_TIMEOUT:-420}" \
    bash "$root/scripts/bench-ensembles.sh" "$out/ensembles_1001_gpu.json" 2>&1 | tee -a "$out/summary.txt"
  stamp "ensembles on the GPU (issue 16): K = 16"
  SERNN="$sernn" DEVICE=cuda RUNS="${ENSEMBLE_RUNS:-16}" RUNS_ONE="${ENSEMBLE_RUNS_ONE:-2}" K="${ENSEMBLE_K:-16}" \
    EPOCHS="${ENSEMBLE_EPOCHS:-2}" timeout "${ENSEMBLES_TIMEOUT:-300}" \
    bash "$root/scripts/bench-ensembles.sh" "$out/ensembles_gpu.json" 2>&1 | tee -a "$out/summary.txt"
fi
stamp "done: gpu tests rc=$tests_rc"
exit $tests_rc
