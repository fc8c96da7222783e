#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into BUILD_DIR (default build-fuzz/) and
# runs each one. Usage: scripts/fuzz.sh [RUNS [SECONDS [SEED]]] — defaults 2000 inputs, 60 s per
# target, seed 1. The runs are seeded, so a given RUNS explores the same inputs on every machine;
# a longer campaign with another seed is one command: scripts/fuzz.sh 0 600 7 (RUNS 0: no limit).
# An input that runs over 10 s, grows past 4 GB resident or asks malloc for over 8 GB at once is a
# finding (HDF5 reserves, without touching, what a corrupt header declares: 4.3 GB was seen).
# FUZZ_MAX_LEN (default 16384) bounds the inputs: the SHD seed (make_shd_seed, a few samples in the
# real layout) is 13.8 KB, and a smaller bound would cut every input to an invalid HDF5 file.
# fuzz_rundir's inputs are a byte choosing a file of a run directory and that file's contents; its
# seeds are the files of a tiny run it trains (checkpoint.pt: 22 KB), so its bound is 32768.
# TARGETS (default "config csv shd rundir") picks the targets. Every target runs even when an
# earlier one finds something; each one's inputs and coverage are printed, a finding's input is
# kept in FUZZ_FINDINGS (default BUILD_DIR/findings), and the exit status is 1 if any target found
# something.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
runs="${1:-2000}"
seconds="${2:-60}"
seed="${3:-1}"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSERNN_BUILD_TESTS=OFF -DSERNN_BUILD_FUZZERS=ON
fi
targets="${TARGETS:-config csv shd rundir}"
cmake --build "$build" -j "$(nproc)" --target make_shd_seed shd_contained $(printf 'fuzz_%s ' $targets)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for name in $targets; do
  mkdir -p "$work/$name"
  cp "$root/tests/fuzz/corpus/$name/"* "$work/$name/" 2>/dev/null || true
done
if [[ " $targets " == *" shd "* ]]; then "$build/tests/fuzz/make_shd_seed" "$work/shd/seed.h5"; fi
findings="${FUZZ_FINDINGS:-$build/findings}"
mkdir -p "$findings"
# Every target runs, whatever an earlier one found (issue 39); each one's result is reported and
# the script fails at the end if any target found something (its input is kept in $findings).
failed=() summary=()
for name in $targets; do
  max_len="${FUZZ_MAX_LEN:-16384}"
  if [ "$name" = rundir ]; then
    max_len="${FUZZ_MAX_LEN:-32768}"
    SERNN_FUZZ_SEEDS="$work/rundir" "$build/tests/fuzz/fuzz_rundir" -runs=0 >/dev/null 2>&1
  fi
  limit=(-runs="$runs")
  [ "$runs" = 0 ] && limit=()
  # A campaign of fuzz_shd runs in libFuzzer's fork mode and goes on past crashes: HDF5 1.10
  # crashes inside its link lookup on some corrupt files, which sernn contains (read_shd reads in
  # a child process: an input error naming the file); each crash is then checked to be contained
  # that way (shd_contained), and only one that is not counts as a finding.
  fork=()
  [ "$name" = shd ] && [ "$runs" = 0 ] && fork=(-fork=1 -ignore_crashes=1 -ignore_timeouts=0 -ignore_ooms=0)
  echo "== fuzz_$name: ${runs/#0/unlimited} inputs, at most ${seconds}s, seed $seed, max_len $max_len"
  rc=0
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    "$build/tests/fuzz/fuzz_$name" -seed="$seed" "${limit[@]}" "${fork[@]}" -max_total_time="$seconds" \
    -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=8192 -print_final_stats=1 \
    -artifact_prefix="$findings/$name-" "$work/$name" > "$work/$name.log" 2>&1 || rc=$?
  inputs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log" | tail -1)
  [ -n "$inputs" ] || inputs=$(grep -oE '^#[0-9]+' "$work/$name.log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$work/$name.log" | tail -1)
  contained=""
  crashes=("$findings/$name"-crash-*)
  if [ ${#fork[@]} -gt 0 ] && [ -e "${crashes[0]}" ]; then
    mkdir -p "$findings/contained"
    if ASAN_OPTIONS=detect_leaks=0:handle_segv=0:handle_abort=0 "$build/tests/fuzz/shd_contained" "${crashes[@]}" \
      > "$work/contained.log" 2>&1; then
      mv "${crashes[@]}" "$findings/contained/"
      contained=", ${#crashes[@]} HDF5 crash(es) contained as sernn contains them (kept in $findings/contained)"
    else
      grep -v '^contained' "$work/contained.log" | head -5
      rc=1
    fi
  fi
  if [ "$rc" = 0 ]; then
    tail -n 1 "$work/$name.log" | grep -v '^stat::' || true
    echo "fuzz_$name: ok (${inputs:-?} inputs, ${cov:-cov: ?}$contained)"
    summary+=("fuzz_$name: ok, ${inputs:-?} inputs, ${cov:-cov: ?}$contained")
  else
    grep -E -A12 "ERROR|runtime error|Test unit written" "$work/$name.log" | head -40 || tail -n 20 "$work/$name.log"
    echo "fuzz_$name: FINDING (exit $rc; ${inputs:-?} inputs; input kept in $findings)"
    summary+=("fuzz_$name: FINDING (exit $rc), ${inputs:-?} inputs, ${cov:-cov: ?}")
    failed+=("$name")
  fi
done
echo "== fuzz summary (seed $seed, ${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
