#!/usr/bin/env bash
# Networks per hour of a sweep trained one network at a time and as ensembles, measured in the
# same call on the same machine (issue 16): `sernn sweep --ensemble 1` against `--ensemble K`
# for the rate one-choice config and for spiking networks on synthetic SHD.
# Usage: scripts/bench-ensembles.sh [OUT_JSON]
#   env: RUNS=8 (networks trained as ensembles of K), RUNS_ONE=RUNS (networks trained one at a time:
#        fewer keeps a large RUNS affordable; rates are per network), K=8 (a number or auto),
#        EPOCHS=2, THREADS=0, DEVICE=cpu, MODELS="rate spiking", EXTRAPOLATE_TO (a sweep size: the
#        ensembles' time scaled from RUNS to it, labelled as an extrapolation in the JSON)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sernn="${SERNN:-$root/build/sernn}"
out_json="${1:-}"
runs="${RUNS:-8}" runs_one="${RUNS_ONE:-${RUNS:-8}}" k="${K:-8}" epochs="${EPOCHS:-2}" threads="${THREADS:-0}" device="${DEVICE:-cpu}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$sernn" data synth-shd --out "$work/shd" --train 512 --test 128 --seed 3 > /dev/null

# seconds for one sweep of N networks with --ensemble E; extra args follow.
time_sweep() {
  local name="$1" e="$2" n="$3" config="$4"
  shift 4
  local t0 t1
  t0=$(date +%s.%N)
  "$sernn" sweep --config "$config" --out "$work/$name-$e" --groups sernn --gammas "0:0.1:$n" --seeds 1 \
    --ensemble "$e" --threads "$threads" --set "train.epochs=$epochs" --set "train.device=$device" "$@" --quiet \
    > "$work/$name-$e.log"
  t1=$(date +%s.%N)
  awk "BEGIN { print $t1 - $t0 }"
}

rows=()
for model in ${MODELS:-rate spiking}; do
  if [ "$model" = rate ]; then
    config="$root/configs/rate_onechoice.toml"
    extra=()
  else
    config="$root/configs/shd_sernn.toml"
    extra=(--set "task.data_dir=$work/shd" --set task.bins=50 --set train.batch_size=64)
  fi
  one=$(time_sweep "$model" 1 "$runs_one" "$config" "${extra[@]}")
  ens=$(time_sweep "$model" "$k" "$runs" "$config" "${extra[@]}")
  per_hour_one=$(awk "BEGIN { print 3600 * $runs_one / $one }")
  per_hour_ens=$(awk "BEGIN { print 3600 * $runs / $ens }")
  speedup=$(awk "BEGIN { print $per_hour_ens / $per_hour_one }")
  printf '%-8s %d epochs: one at a time %d networks %7.1f s (%7.0f networks/h), %d as ensembles of %s %7.1f s (%7.0f networks/h): %.2fx per network\n' \
    "$model" "$epochs" "$runs_one" "$one" "$per_hour_one" "$runs" "$k" "$ens" "$per_hour_ens" "$speedup"
  extrapolation=""
  if [ -n "${EXTRAPOLATE_TO:-}" ]; then
    extrapolation=", \"extrapolated_networks\": $EXTRAPOLATE_TO, \"extrapolated_seconds_ensembles\": $(awk "BEGIN { print $ens * $EXTRAPOLATE_TO / $runs }"), \"extrapolation\": \"linear in the networks from the $runs timed\""
    printf '%-8s extrapolated: %d networks as ensembles in %.0f s (linear from the %d timed)\n' "$model" \
      "$EXTRAPOLATE_TO" "$(awk "BEGIN { print $ens * $EXTRAPOLATE_TO / $runs }")" "$runs"
  fi
  rows+=("{\"model\": \"$model\", \"networks\": $runs, \"networks_one_at_a_time\": $runs_one, \"epochs\": $epochs, \"ensemble\": \"$k\", \"seconds_one_at_a_time\": $one, \"seconds_ensembles\": $ens, \"networks_per_hour_one_at_a_time\": $per_hour_one, \"networks_per_hour_ensembles\": $per_hour_ens, \"speedup\": $speedup$extrapolation}")
done
if [ -n "$out_json" ]; then
  {
    name="$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    if [ "${device%%:*}" = cuda ]; then name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"; fi
    echo "{\"device\": \"$device\", \"device_name\": \"$name\", \"host\": \"$(uname -n)\", \"cpus\": $(nproc), \"threads\": $threads, \"results\": ["
    (IFS=,; echo "${rows[*]}")
    echo "]}"
  } > "$out_json"
  python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$out_json"
  echo "wrote $out_json"
fi
