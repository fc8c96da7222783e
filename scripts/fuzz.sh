#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into BUILD_DIR (default build-fuzz/) and
# runs each one. Usage: scripts/fuzz.sh [RUNS [SECONDS]] — defaults 2000 inputs, 60 s per target.
# The runs are seeded (-seed=1), so a given RUNS explores the same inputs on every machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
runs="${1:-2000}"
seconds="${2:-60}"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSERNN_BUILD_TESTS=OFF -DSERNN_BUILD_FUZZERS=ON
fi
cmake --build "$build" -j "$(nproc)" --target fuzz_config fuzz_csv fuzz_shd make_shd_seed
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for name in config csv shd; do
  mkdir -p "$work/$name"
  cp "$root/tests/fuzz/corpus/$name/"* "$work/$name/" 2>/dev/null || true
done
"$build/tests/fuzz/make_shd_seed" "$work/shd/seed.h5"
for name in config csv shd; do
  echo "== fuzz_$name: $runs inputs, at most ${seconds}s"
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    "$build/tests/fuzz/fuzz_$name" -seed=1 -runs="$runs" -max_total_time="$seconds" -max_len=4096 \
    -rss_limit_mb=4096 "$work/$name" 2>&1 | tail -n 3
  echo "fuzz_$name: ok"
done
