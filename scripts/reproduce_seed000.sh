#!/usr/bin/env bash
# Reproduces seed 000 (Achterberg, Akarca et al. 2023, "Spatially embedded recurrent neural
# networks ...") in one command: the reference's sweep protocols, every epoch's measures computed
# as the reference computes them, and the paper's figures in one HTML page per half.
#
# usage: scripts/reproduce_seed000.sh [--model rate|spiking|both] [--scale small|paper] [--out DIR]
#                                     [--data SHD_DIR] [--groups l1,sernn] [--task memory|bands]
#                                     [-- extra sernn sweep flags]
# --groups: the spiking groups to run (default both; one group at paper scale is the measured
#   fraction scripts/gpu-check.sh SEED000=1 times on a GPU).
# rate (rate_generate_statistics.m, rate_figures.m): L1 and seRNN groups over γ, the space-only,
#   comm-only and random-label controls, 10 epochs, accurate = final test accuracy >= 0.9.
#   small  (default) this 2-core CPU within an hour (856 s measured): 101 networks each for
#          L1 at γ = 0.0002 × index (0 … 0.02) and seRNN at γ = 0.01 × index (0 … 1); 21 each
#          for space (γ = 0.0005 × index), comm and random (γ = 0.05 × index); ensembles of 8.
#          L1's range is 50 times smaller: its cost Σ|W| is that much larger than seRNN's
#          Σ|W|∘D∘C, and at γ ≥ 0.02 every L1 network collapsed to chance here. Space-only's
#          Σ|W|∘D is larger still: measured, it trains to γ = 0.005 and fails from 0.006 (at
#          γ = 0.01 × index only γ = 0 trained), so its range is 0 … 0.01.
#   paper  1001 networks each for L1 and seRNN at γ = 0.001 × index, 101 each for the controls
#          at γ = 0.01 × index.
# spiking (spiking_generate_statistics.m, spiking_figures.m, seRSNN_demo.ipynb): L1 and seRNN
#   groups of 100 LIF neurons on SHD (configs/shd_sernn.toml: Adam 1e-3, surrogate slope 100, β
#   clipped after each step, communicability detached), accurate = final test accuracy >= 0.45.
#   small  the synthetic memory task (`sernn data synth-shd --task memory`, docs/tasks.md: class =
#          (cue band + probe band) mod 5, which a linear readout of the counts cannot solve and
#          the shipped network solves better with its recurrent weight, 0.86 against 0.74 with W
#          held at zero), 8,192 training and 1,024 test samples written to DIR's parent unless
#          --data, 200 bins, batch 128, 10 epochs, 41 networks per group, ensembles of 8:
#          GAMMAS_SMALL below, ranges chosen by measurement (README, "Reproducing seed 000").
#          --task bands reruns the earlier small scale on the bands task (1024 + 256 samples, 50
#          bins, batch 32, 30 epochs, 101 networks per group: L1 at γ = 0.00001 × index, seRNN at
#          0.0002 × index), which needs no recurrence.
#   paper  the real SHD (--data DIR with shd_train.h5 and shd_test.h5, `sernn data fetch-shd`),
#          200 bins, batch 128, 50 epochs, 101 networks per group at γ = 0.01 × index (the
#          reference's sf = 0.01). Meant for a GPU: add `-- --set train.device=cuda --ensemble auto`.
# Writes DIR (default runs/seed000_SCALE for rate, runs/seed000_spiking_SCALE for spiking; with
# --model both and --out DIR: DIR/rate and DIR/spiking): results.csv (final epoch),
# results_epochs.csv (every epoch), report.html (the figures of the accurate networks). A rerun
# resumes: finished networks are skipped.
set -euo pipefail
# The memory task's γ ranges (small scale), by measurement (10 epochs, seed 1, 2026-12-07, 8 γ
# per group): both groups start at test accuracy 1.00 and Σ|W| 572 (0.27 with W zeroed: the
# network relies on W) and end at Σ|W| ~7 near the accuracy of networks trained without W (0.7-0.9,
# the ablation then changing little): L1 at γ = 0.002 0.78 (Σ|W| 35), 0.01 0.75 (7); seRNN at
# 0.05 0.98 (16), 0.1-0.35 0.68-0.94 (8-9).
GAMMAS_SMALL="l1=0:0.01:41,sernn=0:0.3:41"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model=both scale=small out="" data="" groups=l1,sernn task=memory
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --groups) groups="$2"; shift 2 ;;
    --task) task="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "reproduce_seed000.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$model" in rate|spiking|both) ;; *)
  echo "reproduce_seed000.sh: --model must be rate, spiking or both, got '$model'" >&2; exit 2 ;;
esac
case "$groups" in l1|sernn|l1,sernn|sernn,l1) ;; *)
  echo "reproduce_seed000.sh: --groups must be l1, sernn or l1,sernn, got '$groups'" >&2; exit 2 ;;
esac
case "$task" in memory|bands) ;; *)
  echo "reproduce_seed000.sh: --task must be memory or bands, got '$task'" >&2; exit 2 ;;
esac
case "$scale" in small|paper) ;; *)
  echo "reproduce_seed000.sh: --scale must be small or paper, got '$scale'" >&2; exit 2 ;;
esac
if [ "$model" != rate ] && [ "$scale" = paper ] && { [ -z "$data" ] || [ ! -f "$data/shd_train.h5" ]; }; then
  echo "reproduce_seed000.sh: the paper scale's spiking half needs the real SHD: --data DIR with shd_train.h5" \
       "and shd_test.h5 (sernn data fetch-shd --dir DIR downloads them)" >&2
  exit 2
fi
rate_out="${out:-$root/runs/seed000_$scale}" spiking_out="${out:-$root/runs/seed000_spiking_$scale}"
[ "$task" = bands ] && spiking_out="${out:-$root/runs/seed000_spiking_${scale}_bands}"
if [ "$model" = both ] && [ -n "$out" ]; then rate_out="$out/rate" spiking_out="$out/spiking"; fi
sernn="${SERNN:-${BUILD_DIR:-$root/build}/sernn}"
if [ ! -x "$sernn" ]; then
  "$root/scripts/install-deps.sh"
  "$root/scripts/build.sh"
fi
start=$(date +%s)
if [ "$model" != spiking ]; then
  case "$scale" in
    small) gammas="l1=0:0.02:101,sernn=0:1:101,space=0:0.01:21,comm=0:1:21,random=0:1:21" ensemble=8 ;;
    paper) gammas="l1=0:1:1001,sernn=0:1:1001,space=0:1:101,comm=0:1:101,random=0:1:101" ensemble=auto ;;
  esac
  echo "== seed 000, rate half, $scale scale: sweep into $rate_out"
  "$sernn" sweep --config "$root/configs/rate_onechoice.toml" --out "$rate_out" --gammas "$gammas" \
    --seeds 1 --ensemble "$ensemble" --set train.epochs=10 "$@"
  "$sernn" report "$rate_out" --filter --out "$rate_out/report.html"
fi
if [ "$model" != rate ]; then
  if [ "$scale" = small ] && [ "$task" = memory ]; then
    data="${data:-$(dirname "$spiking_out")/synthetic_memory_seed000}"
    if [ ! -f "$data/shd_train.h5" ]; then
      "$sernn" data synth-shd --task memory --out "$data" --train 8192 --test 1024 --seed 1
    fi
    gammas="$GAMMAS_SMALL" ensemble=8
    sizes=(--set task.bins=200 --set train.batch_size=128 --set train.epochs=10)
  elif [ "$scale" = small ]; then
    data="${data:-$(dirname "$spiking_out")/synthetic_shd_seed000}"
    if [ ! -f "$data/shd_train.h5" ]; then
      "$sernn" data synth-shd --out "$data" --train 1024 --test 256 --seed 1
    fi
    gammas="l1=0:0.001:101,sernn=0:0.02:101" ensemble=8
    sizes=(--set task.bins=50 --set train.batch_size=32 --set train.epochs=30)
  else
    gammas="l1=0:1:101,sernn=0:1:101" ensemble=auto
    sizes=(--set task.bins=200 --set train.batch_size=128 --set train.epochs=50)
  fi
  # only the chosen groups' γ lists
  gammas="$(tr ',' '\n' <<< "$gammas" | grep -E "^(${groups//,/|})=" | paste -sd, -)"
  echo "== seed 000, spiking half, $scale scale: sweep into $spiking_out (SHD data: $data)"
  "$sernn" sweep --config "$root/configs/shd_sernn.toml" --out "$spiking_out" --groups "$groups" --gammas "$gammas" \
    --seeds 1 --ensemble "$ensemble" --set task.data_dir="$data" "${sizes[@]}" "$@"
  "$sernn" report "$spiking_out" --filter --out "$spiking_out/report.html"
fi
echo "done in $(( $(date +%s) - start )) s:"
[ "$model" != spiking ] && echo "  rate:    $rate_out/report.html, results.csv, results_epochs.csv"
[ "$model" != rate ] && echo "  spiking: $spiking_out/report.html, results.csv, results_epochs.csv"
exit 0
