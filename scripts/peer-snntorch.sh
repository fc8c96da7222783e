#!/usr/bin/env bash
# Prints a folder holding pip's snnTorch (the version pinned in python/requirements-ci.txt),
# installed there once with `pip install --target` (pure Python, no dependencies pulled), for the
# interpreters that have no environment of their own (Debian's python3 of the Debian suite):
# SNNTORCH_DIR=$(scripts/peer-snntorch.sh) runs the snnTorch parity tests against it.
# usage: scripts/peer-snntorch.sh [DIR]   (DIR, e.g. .peers to carry to a GPU machine; default: the cache)
# env: SERNN_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/sernn).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pin="$(grep -E '^snntorch==' "$root/python/requirements-ci.txt")"
dir="${1:-${SERNN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sernn}/peers/${pin/==/-}}"
if [ ! -f "$dir/snntorch/__init__.py" ]; then
  # Into DIR beside whatever it holds (--upgrade replaces an older snntorch there).
  python3 -m pip install -q --disable-pip-version-check --no-deps --upgrade --target "$dir" "$pin" >&2
fi
echo "$dir"
