#!/usr/bin/env bash
# Prints a folder holding pip's snnTorch, nir and nirtorch (the versions pinned in python/requirements-ci.txt,
# and h5py where the interpreter lacks it), installed there once with `pip install --target` (no
# dependencies pulled), for the interpreters that have no environment of their own (Debian's
# python3 of the Debian suite): SNNTORCH_DIR=$(scripts/peer-snntorch.sh) runs the snnTorch parity
# tests and the NIR tests against them. env: PEER_PYTHON (default /usr/bin/python3).
# usage: scripts/peer-snntorch.sh [DIR]   (DIR, e.g. .peers to carry to a GPU machine; default: the cache)
# env: SERNN_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/sernn).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pin="$(grep -E '^snntorch==' "$root/python/requirements-ci.txt")"
nir_pin="$(grep -E '^nir==' "$root/python/requirements-ci.txt")"
nirtorch_pin="$(grep -E '^nirtorch==' "$root/python/requirements-ci.txt")"
h5py_pin="$(grep -E '^h5py==' "$root/python/requirements-ci.txt")"
dir="${1:-${SERNN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sernn}/peers/${pin/==/-}-${nir_pin/==/-}-${nirtorch_pin/==/-}}"
# The interpreter the peers are for (binary wheels must fit it): Debian's, else the first python3.
py="${PEER_PYTHON:-/usr/bin/python3}"
{ [ -x "$py" ] && "$py" -m pip --version > /dev/null 2>&1; } || py=python3
install() { "$py" -m pip install -q --disable-pip-version-check --no-deps --upgrade --target "$dir" "$@" >&2; }
if [ ! -f "$dir/snntorch/__init__.py" ]; then
  # Into DIR beside whatever it holds (--upgrade replaces an older snntorch there).
  install "$pin"
fi
# NIR for tests/python/test_nir.py: nir and nirtorch (snnTorch's NIR export; both pure Python)
# and, where the interpreter has none, h5py (its wheel for that interpreter; numpy is Debian's).
if [ ! -f "$dir/nir/__init__.py" ] || [ ! -f "$dir/nirtorch/__init__.py" ]; then
  install "$nir_pin" "$nirtorch_pin"
fi
if ! "$py" -c 'import h5py' 2>/dev/null && [ ! -d "$dir/h5py" ]; then
  install --only-binary=:all: "$h5py_pin"
fi
echo "$dir"
