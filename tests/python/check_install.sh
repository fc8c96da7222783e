#!/usr/bin/env bash
# `cmake --install` puts the Python package where `import sernn` finds it with the prefix's site
# directory on PYTHONPATH, away from the source and build trees, and importing it registers
# torch.ops.sernn.* (issue 28). Usage: check_install.sh BUILD_DIR SCRATCH_DIR PYTHON SITE_SUBDIR
set -euo pipefail
build="$1" scratch="$2" py="$3" site="$4"
rm -rf "$scratch"
mkdir -p "$scratch/elsewhere"
cmake --install "$build" --prefix "$scratch/prefix" > "$scratch/install.log"
test -f "$scratch/prefix/$site/sernn/__init__.py"
test -f "$scratch/prefix/$site/sernn/libsernn_ops.so"
cd "$scratch/elsewhere"
env -u SERNN_OPS_LIBRARY PYTHONPATH="$scratch/prefix/$site" PYTHONDONTWRITEBYTECODE=1 "$py" - "$scratch/prefix" <<'PY'
import os
import sys

import torch

import sernn

prefix = os.path.realpath(sys.argv[1])
assert os.path.realpath(sernn.__file__).startswith(prefix), sernn.__file__
assert os.path.realpath(sernn.LIBRARY).startswith(prefix), sernn.LIBRARY
assert hasattr(torch.ops.sernn, "lif_network")
net = sernn.SpikingNetwork(20, 8, 3, slope=25.0)
logits = net((torch.rand(5, 2, 20) < 0.3).float())[0]
logits.sum().backward()
assert logits.shape == (2, 3) and net.recurrent.weight.grad is not None
print("import sernn from", os.path.dirname(sernn.__file__), "- torch.ops.sernn.lif_network registered")
PY
