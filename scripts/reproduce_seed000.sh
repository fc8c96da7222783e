#!/usr/bin/env bash
# Reproduces the rate-network results of seed 000 (Achterberg, Akarca et al. 2023, "Spatially
# embedded recurrent neural networks ...") in one command: the reference's sweep protocol
# (rate_generate_statistics.m: L1 and seRNN groups over γ, the space-only, comm-only and
# random-label controls), every epoch's measures computed as the reference computes them, and the
# paper's figures (rate_figures.m) in one HTML page.
#
# usage: scripts/reproduce_seed000.sh [--scale small|paper] [--out DIR] [-- extra sernn sweep flags]
#   small  (default) this 2-core CPU within an hour (856 s measured): 101 networks each for
#          L1 at γ = 0.0002 × index (0 … 0.02) and seRNN at γ = 0.01 × index (0 … 1); 21 each
#          for space (γ = 0.01 × index), comm and random (γ = 0.05 × index); 10 epochs,
#          ensembles of 8. L1's range is 50 times smaller: its cost Σ|W| is that much larger
#          than seRNN's Σ|W|∘D∘C, and at γ ≥ 0.02 every L1 network collapsed to chance here.
#   paper  the full protocol: 1001 networks each for L1 and seRNN at γ = 0.001 × index, 101 each
#          for the controls at γ = 0.01 × index, 10 epochs. Meant for a GPU (add
#          `-- --set train.device=cuda --ensemble auto`) or a cluster (`-- --slurm --shards 50`,
#          then sbatch the written script).
# Writes DIR (default runs/seed000_SCALE): results.csv (final epoch), results_epochs.csv (every
# epoch), report.html (the figures, networks with final test accuracy >= 0.9 as the reference
# keeps them). A rerun resumes: finished networks are skipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scale=small out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "reproduce_seed000.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$scale" in
  small) gammas="l1=0:0.02:101,sernn=0:1:101,space=0:0.2:21,comm=0:1:21,random=0:1:21" ensemble=8 ;;
  paper) gammas="l1=0:1:1001,sernn=0:1:1001,space=0:1:101,comm=0:1:101,random=0:1:101" ensemble=auto ;;
  *) echo "reproduce_seed000.sh: --scale must be small or paper, got '$scale'" >&2; exit 2 ;;
esac
out="${out:-$root/runs/seed000_$scale}"
sernn="${SERNN:-${BUILD_DIR:-$root/build}/sernn}"
if [ ! -x "$sernn" ]; then
  "$root/scripts/install-deps.sh"
  "$root/scripts/build.sh"
fi
start=$(date +%s)
echo "== seed 000, $scale scale: sweep into $out"
"$sernn" sweep --config "$root/configs/rate_onechoice.toml" --out "$out" --gammas "$gammas" \
  --seeds 1 --ensemble "$ensemble" --set train.epochs=10 "$@"
echo "== figures"
"$sernn" report "$out" --filter --out "$out/report.html"
echo "done in $(( $(date +%s) - start )) s: $out/report.html, $out/results.csv, $out/results_epochs.csv"
