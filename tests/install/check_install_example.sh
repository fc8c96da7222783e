#!/usr/bin/env bash
# Installs the built sernn into a scratch prefix, builds docs/example against the installed
# package (find_package(sernn), sernn::run) and trains with it: another CMake project can use
# sernn as a library. Usage: check_install_example.sh SOURCE_DIR BUILD_DIR SCRATCH_DIR
set -euo pipefail
src="$1" build="$2" scratch="$3"
rm -rf "$scratch"
mkdir -p "$scratch"
cmake --install "$build" --prefix "$scratch/prefix" > "$scratch/install.log"
test -f "$scratch/prefix/lib/cmake/sernn/sernnConfig.cmake"
test -f "$scratch/prefix/include/sernn/run/setup.h"
cmake -S "$src/docs/example" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" > "$scratch/configure.log"
cmake --build "$scratch/build" > "$scratch/build.log"
out="$("$scratch/build/train_example" "$scratch/run")"
echo "$out"
# The example trained a real run: three epochs of metrics and a test accuracy printed.
test "$(wc -l < "$scratch/run/metrics.jsonl")" -eq 3
grep -q '"status": "finished"' "$scratch/run/status.json"
echo "$out" | grep -q "test accuracy after 3 epochs: "
