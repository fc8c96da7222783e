#!/usr/bin/env bash
# CI's torch-2.x stage (.ci/run, after the Debian suite): sernn on the torch that users install.
#
#  1. The GPU machines' torch (pip's 2.11.0, CUDA 13.0) in a cached environment: the whole
#     project (sernn, its tests, the gpu tests, libsernn_ops.so) configured and built with nvcc
#     13 for A100, H100/H200 and B200 (TORCH_CUDA_ARCH_LIST), exactly as scripts/gpu-check.sh
#     builds on a GPU machine (scripts/build-cuda.sh); cuobjdump lists the LIF kernels per
#     architecture; then the `unit` and `python` labels run on the CPU against that torch.
#  2. The newest torch (pip's 2.15.0, C++20) in a fresh environment: `pip install
#     --no-build-isolation .` (the package, built against that torch, CUDA kernels included), the
#     import, and the Python tests against the installed package, snnTorch's parity tests among
#     them (pip's snnTorch, pinned in python/requirements-ci.txt): none may skip but the CUDA
#     comparison (no GPU here). Then the sdist (python -m build) and a wheel built from it.
#
# usage: scripts/test-torch2.sh [cuda|pip|all]      (default all)
# env:   SERNN_CACHE_DIR (scripts/torch-venv.sh), BUILD_DIR (default build-torch2),
#        TORCH_CUDA=2.11.0, TORCH_NEWEST=2.15.0, TORCH_CUDA_ARCH_LIST (default "8.0;9.0;10.0").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what="${1:-all}"
build="${BUILD_DIR:-$root/build-torch2}"
torch_cuda="${TORCH_CUDA:-2.11.0}"
torch_newest="${TORCH_NEWEST:-2.15.0}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-8.0;9.0;10.0}"
stamp() { echo "[torch2 $(date +%H:%M:%S)] $*"; }
t_start=$(date +%s)

if [ "$what" = cuda ] || [ "$what" = all ]; then
  venv="$(bash "$root/scripts/torch-venv.sh" "$torch_cuda")"
  stamp "stage 1: torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') in $venv"
  BUILD_DIR="$build" PYTHON="$venv/bin/python" bash "$root/scripts/build-cuda.sh"
  stamp "cuobjdump: the LIF kernels of each architecture in the sernn program"
  PYTHON="$venv/bin/python" bash "$root/scripts/build-cuda.sh" --list-kernels "$build/sernn"
  stamp "ctest -L unit and -L python on the CPU against torch $torch_cuda"
  ctest --test-dir "$build" -L 'unit|python' -j "$(nproc)" --output-on-failure --timeout 1200 |
    tee "$build/ctest-torch2.log" | grep -E "tests passed|tests failed|\*\*\*Failed|Not Run|Timeout|Total Test"
  stamp "stage 1 done"
fi

if [ "$what" = pip ] || [ "$what" = all ]; then
  fresh="$(bash "$root/scripts/torch-venv.sh" "$torch_newest" --fresh)"
  stamp "stage 2: pip install --no-build-isolation . into $fresh"
  t0=$(date +%s)
  # scikit-build-core keeps its own build folder (build-pip/); the C++ goes through ccache too.
  PATH="/usr/local/cuda/bin:$PATH" "$fresh/bin/python" -m pip install --no-build-isolation -q "$root" 2>&1 | tail -20
  stamp "installed in $(( $(date +%s) - t0 )) s"
  (cd /tmp && "$fresh/bin/python" -c "import sernn, torch; print(torch.ops.sernn.lif_network); \
print('sernn', sernn.__file__, 'torch', torch.__version__, 'CUDA', torch.version.cuda, 'built for', sernn.BUILD)")
  stamp "the Python tests against the installed package (snnTorch $("$fresh/bin/python" -c \
'import importlib.metadata as m; print(m.version("snntorch"))'))"
  # The tests that compare with `sernn train` run the program of stage 1 (or of the Debian build).
  binary="${SERNN_BINARY:-}"
  for b in "$build/sernn" "$root/build/sernn"; do [ -z "$binary" ] && [ -x "$b" ] && binary="$b"; done
  [ -n "$binary" ] || { stamp "no sernn program (run stage 1 first, or set SERNN_BINARY)"; exit 1; }
  mkdir -p "$root/build-pip"
  log="$root/build-pip/unittest.log"
  (cd "$root/tests/python" && SERNN_REQUIRE_PEERS=1 SERNN_REQUIRE_NIR=1 SERNN_BINARY="$binary" SERNN_SOURCE_DIR="$root" \
    PYTHONDONTWRITEBYTECODE=1 "$fresh/bin/python" -m unittest discover -s . -p 'test_*.py' -v) > "$log" 2>&1 ||
    { tail -60 "$log"; stamp "the Python tests failed (all of it: $log)"; exit 1; }
  grep -E "^(Ran|OK)|\.\.\. skipped" "$log"
  # Only the CUDA comparison may skip here (no GPU on CI's machines).
  if grep -E "\.\.\. skipped" "$log" | grep -v "no CUDA device" | grep -q .; then
    stamp "a Python test skipped (none may here but the CUDA one)"
    exit 1
  fi
  stamp "the sdist: python -m build --sdist, then a wheel built from it"
  rm -rf "$root/build-pip/dist"
  "$fresh/bin/python" -m build --sdist --no-isolation -o "$root/build-pip/dist" "$root" | tail -1
  t0=$(date +%s)
  (cd /tmp && PATH="/usr/local/cuda/bin:$PATH" "$fresh/bin/python" -m pip wheel --no-build-isolation --no-deps -q \
    -w "$root/build-pip/dist" "$root"/build-pip/dist/sernn-*.tar.gz 2>&1 | tail -20)
  wheel="$(ls "$root"/build-pip/dist/sernn-*.whl)"
  "$fresh/bin/python" -m zipfile -l "$wheel" | grep -E "sernn/(libsernn_ops.so|_build.py|__init__.py)"
  [ "$("$fresh/bin/python" -m zipfile -l "$wheel" | grep -cE "sernn/(libsernn_ops.so|_build.py|__init__.py)")" = 3 ] ||
    { stamp "the wheel built from the sdist lacks the library, _build.py or the package"; exit 1; }
  stamp "wheel from the sdist in $(( $(date +%s) - t0 )) s: $(basename "$wheel")"
  stamp "stage 2 done"
fi
stamp "torch-2.x stage: $(( $(date +%s) - t_start )) s"
