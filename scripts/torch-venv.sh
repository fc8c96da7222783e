#!/usr/bin/env bash
# Makes (once) and prints the path of a cached virtual environment holding pip's torch VERSION and
# the Python tools sernn's torch-2.x stage needs (python/requirements-ci.txt: numpy, pytest, h5py,
# scikit-build-core, snnTorch, all pinned). pip's torch for Linux is the CUDA build: its CUDA
# runtime wheels come along, so the CPU tests run against exactly what users install.
#
# usage: scripts/torch-venv.sh VERSION [--fresh]     e.g. scripts/torch-venv.sh 2.11.0
#   --fresh  torch and the test tools only, nothing built or installed from sernn (a "fresh" env for
#            `pip install --no-build-isolation .`); made anew on every call, from the wheel folder.
# env:   SERNN_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/sernn): where the environments and
#        the wheels they are made from (wheels/) live; CI reuses them: a warm run downloads nothing
#        (pip's own cache does not keep the index's wheels here);
#        SERNN_VENV_PYTHON (default python3): the interpreter the environment is made from.
# Progress goes to stderr; stdout is only the environment's folder.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${1:?usage: scripts/torch-venv.sh VERSION [--fresh]}"
fresh=0
[ "${2:-}" = --fresh ] && fresh=1
cache="${SERNN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sernn}"
py="${SERNN_VENV_PYTHON:-python3}"
pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
reqs="$root/python/requirements-ci.txt"
wheels="$cache/wheels"
export PIP_DISABLE_PIP_VERSION_CHECK=1
mkdir -p "$cache" "$wheels"

if [ "$fresh" = 1 ]; then
  venv="$cache/fresh-torch-$version-py$pyver"
  rm -rf "$venv"
else
  venv="$cache/venv-torch-$version-py$pyver"
fi
# The stamp names what the environment was made from: a changed pin list remakes it.
stamp="torch==$version $(sha256sum "$reqs" | cut -c1-16)"
if [ -f "$venv/.sernn-stamp" ] && [ "$(cat "$venv/.sernn-stamp")" = "$stamp" ]; then
  echo "$venv"
  exit 0
fi
rm -rf "$venv"
echo "torch-venv: making $venv (torch $version, Python $pyver; wheels in $wheels)" >&2
t0=$(date +%s)
if ! "$py" -m venv "$venv" >&2; then
  # Debian's python3 makes environments only with python3-venv installed.
  echo "torch-venv: '$py -m venv' failed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
# From the wheel folder alone when it holds everything; else download into it first.
if ! "$venv/bin/python" -m pip install -q --no-index --find-links "$wheels" "torch==$version" -r "$reqs" >&2 2>/dev/null; then
  echo "torch-venv: downloading torch $version and python/requirements-ci.txt into $wheels" >&2
  "$venv/bin/python" -m pip download -q -d "$wheels" "torch==$version" -r "$reqs" >&2
  "$venv/bin/python" -m pip install -q --no-index --find-links "$wheels" "torch==$version" -r "$reqs" >&2
fi
"$venv/bin/python" -c 'import torch; print("torch-venv: torch", torch.__version__, "CUDA", torch.version.cuda)' >&2
echo "$stamp" > "$venv/.sernn-stamp"
echo "torch-venv: ready in $(( $(date +%s) - t0 )) s" >&2
echo "$venv"
