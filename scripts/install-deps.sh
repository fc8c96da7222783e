#!/usr/bin/env bash
# Installs the Debian packages sernn needs, only those that are missing. Idempotent: runs
# `apt-get update` only when something has to be installed. Works as root or with sudo.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build ccache pkg-config
  libopenblas0-openmp   # an optimised BLAS for LibTorch (Debian defaults to the slow reference BLAS)
  libtorch-dev libcxxopts-dev libfmt-dev libboost-graph-dev googletest libgtest-dev
  libgloo-dev           # c10d Gloo headers: data-parallel training
  libhdf5-dev nlohmann-json3-dev libtomlplusplus-dev zlib1g-dev libcurl4-openssl-dev libssl-dev
  python3 python3-torch python3-h5py python3-numpy
  chromium              # renders the HTML report in the report test (headless)
  clang libclang-rt-14-dev   # libFuzzer targets (scripts/fuzz.sh, the FuzzSmoke test)
  clang-format               # tests/check_format.sh (the FormatCheck test)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "sernn: all build dependencies present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "sernn: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
