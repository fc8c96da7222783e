#!/usr/bin/env bash
# The CUDA flavour of sernn, one recipe for CI (scripts/test-torch2.sh, on a CPU machine with the
# CUDA toolkit) and for GPU machines (scripts/gpu-check.sh): the whole project (the `sernn`
# program, every test binary, the gpu tests, libsernn_ops.so) configured against the torch of
# $PYTHON (pip's torch: its CMake package) with nvcc, for TORCH_CUDA_ARCH_LIST, then built.
# Prints the torch, nvcc and architectures it built with. Exits 3 when that torch has no CUDA.
#
# usage: scripts/build-cuda.sh                     configure and build into BUILD_DIR
#        scripts/build-cuda.sh --list-kernels BIN  cuobjdump's list of BIN's kernels per architecture;
#                                                  non-zero unless every architecture holds them
# env:   PYTHON (default python3), BUILD_DIR (default build-cuda), TORCH_CUDA_ARCH_LIST (default
#        "8.0;9.0;10.0": A100, H100/H200, B200), CUDA_HOME (default /usr/local/cuda),
#        JOBS (default nproc), TARGETS (default: all), SERNN_CMAKE_ARGS (more -D options, unquoted).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cuda_home="${CUDA_HOME:-/usr/local/cuda}"
export PATH="$cuda_home/bin:$PATH"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-8.0;9.0;10.0}"

if [ "${1:-}" = --list-kernels ]; then
  bin="${2:?usage: scripts/build-cuda.sh --list-kernels BINARY}"
  # cuobjdump: the toolkit's, else pip's nvidia-cuda-cuobjdump in $PYTHON's environment (the CUDA
  # toolkit installed on CI's machines has none).
  objdump="$(command -v cuobjdump || true)"
  if [ -z "$objdump" ]; then
    site="$("${PYTHON:-python3}" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)"
    objdump="$(ls "$site"/nvidia/cu*/bin/cuobjdump 2>/dev/null | head -1 || true)"
  fi
  [ -n "$objdump" ] || { echo "build-cuda: no cuobjdump (pip install nvidia-cuda-cuobjdump)"; exit 1; }
  "$objdump" --list-elf "$bin" | sed 's/^/  /'
  # The fused LIF network's kernels (models/cuda/lif_kernels.cu), in each architecture's cubin.
  status=0
  IFS=';' read -r -a archs <<< "$TORCH_CUDA_ARCH_LIST"
  for a in "${archs[@]}"; do
    sm="sm_${a//./}"
    names="$("$objdump" -elf -arch "$sm" "$bin" 2>/dev/null | grep -oE '^\.text\.[^ ]+' | sed 's/^\.text\.//' |
      c++filt | grep -E 'sernn::cuda::.*(forward|backward)_kernel' | sed -E 's/^void //; s/sernn::cuda::\(anonymous namespace\):://; s/\(.*//' |
      sort | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')"
    if [ -z "$names" ]; then
      echo "build-cuda: $sm: no LIF kernel in $bin"
      status=1
    else
      echo "build-cuda: $sm: $names"
    fi
  done
  exit $status
fi

# A bare GPU machine (no -dev packages): the kit of scripts/gpu-kit.sh, carried along.
if [ -f "$root/.gpu-kit/env.sh" ] && [ ! -d /usr/include/nlohmann ]; then
  # shellcheck disable=SC1091
  . "$root/.gpu-kit/env.sh"
  echo "build-cuda: sernn's dependencies from .gpu-kit"
fi
py="${PYTHON:-python3}"
build="${BUILD_DIR:-$root/build-cuda}"
info="$("$py" -c 'import torch; print(torch.__version__, torch.version.cuda or "none", torch.utils.cmake_prefix_path)')"
read -r torch_version torch_cuda torch_prefix <<< "$info"
if [ "$torch_cuda" = none ]; then
  echo "build-cuda: torch $torch_version of $py has no CUDA"
  exit 3
fi
nvcc_version="$(nvcc --version | grep -oE 'release [0-9.]+' | cut -d' ' -f2)"
echo "build-cuda: torch $torch_version (CUDA $torch_cuda) of $py, nvcc $nvcc_version ($cuda_home), architectures $TORCH_CUDA_ARCH_LIST"
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  # shellcheck disable=SC2086  # SERNN_CMAKE_ARGS: -D options without spaces
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix${SERNN_KIT_PREFIX:+;$SERNN_KIT_PREFIX}" \
    -DSERNN_PYTHON="$py" -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc" -DCUDAToolkit_ROOT="$cuda_home" \
    ${SERNN_KIT_CMAKE_ARGS:-} ${SERNN_CMAKE_ARGS:-}
fi
# The executables link libtorch_cuda.so, whose CUDA libraries (cuBLAS, cuDNN, NCCL, ...) come with
# pip's torch in site-packages/nvidia: the linker finds them through its RPATH.
# shellcheck disable=SC2086  # TARGETS: a list of target names
cmake --build "$build" -j "${JOBS:-$(nproc)}" ${TARGETS:+--target $TARGETS}
grep -E "^(Torch_DIR|CMAKE_CUDA_COMPILER:|SERNN_PYTHON:)" "$build/CMakeCache.txt" | sed 's/^/build-cuda: /'
echo "build-cuda: built $build"
