#!/usr/bin/env python3
"""Checks scripts/seed000_keras_replica.py (issue 17's optimiser study) against closed forms:
the task's encoding, the grid's distances, Keras' Adam step, the regulariser's value on a matrix
whose communicability is known, and that two epochs without a cost learn above chance.
Exit 77 (skipped) when this python has no torch."""
import importlib.util
import math
import os
import sys

try:
    import torch
except ImportError:
    print("no torch in this python: skipped")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("replica", os.path.join(here, "..", "scripts", "seed000_keras_replica.py"))
r = importlib.util.module_from_spec(spec)
spec.loader.exec_module(r)


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


# Problem 0: goal 9 (channel 1) for 20 steps, 10 silent steps, choices u and l (channels 5, 4).
x = r.problem(9, "ul")
check(x.shape == (50, 8), "problem shape")
check(x[:20, 1].eq(1).all() and x[:20].sum() == 20, "goal one-hot for 20 steps")
check(x[20:30].sum() == 0, "silent delay")
check(x[30:, 4].eq(1).all() and x[30:, 5].eq(1).all() and x[30:].sum() == 40, "two choices for 20 steps")
xs, ys = r.dataset(64, torch.Generator().manual_seed(0))
check(set(ys.tolist()) <= {0, 1, 2, 3}, "labels are directions")

# Distances: neuron 0 at (0,0,0); meshgrid 'xy' ravel order puts (x=0, y=0, z=1) next and
# (x=1, y=0, z=0) after the 4 z values of (x=0, y=0)... of row y=0: index 4 is x=1.
d = r.distances()
check(d.shape == (100, 100) and d.diagonal().abs().max() == 0, "distance matrix")
check(abs(d[0, 1].item() - 1.0) < 1e-6 and abs(d[0, 4].item() - 1.0) < 1e-6, "unit grid spacing")
check(abs(d.max().item() - math.sqrt(16 + 16 + 9)) < 1e-5, "largest distance (4, 4, 3)")

# Keras Adam, first step: m = 0.1 g, v = 0.001 g^2, lr_t = lr sqrt(0.001) / 0.1, so the update is
# lr g / (|g| + eps / sqrt(0.001)): lr sign(g) up to eps.
p = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
opt = r.KerasAdam([p])
(p * torch.tensor([0.5, -4.0, 2e-3])).sum().backward()
opt.step()
expected = torch.tensor([1.0, -2.0, 3.0]) - 1e-3 * torch.tensor([0.5, -4.0, 2e-3]) / (
    torch.tensor([0.5, 4.0, 2e-3]) + 1e-7 / math.sqrt(1e-3))
check((p.detach() - expected).abs().max().item() < 1e-7, "Keras Adam first step")

# Regulariser on W = c I (diagonal only): S = c I, S^-1/2 W S^-1/2 = I, C = e I, diagonal zeroed: 0.
check(r.se1_swc(torch.eye(100) * 0.3, d).item() == 0.0, "self-connections cost nothing")
# Two neurons joined both ways with weight c (others isolated by tiny self-loops): C_01 = sinh(1).
w = torch.eye(100) * 1e-3
w[0, 1] = w[1, 0] = 0.5
w[0, 0] = w[1, 1] = 0.0
val = r.se1_swc(w, d).item()
check(abs(val - 2 * 0.5 * math.sinh(1.0) * d[0, 1].item()) < 1e-4, f"two-neuron communicability ({val})")

# Learning: two epochs of the plain task (gamma 0) are well above chance (1/4).
sys.argv = ["replica", "--gamma", "0", "--epochs", "2", "--seed", "1"]
import io
import contextlib
out = io.StringIO()
with contextlib.redirect_stdout(out):
    r.main()
import json
rows = [json.loads(line) for line in out.getvalue().splitlines()]
check(len(rows) == 2 and rows[-1]["test_acc"] > 0.6, f"learns: {rows}")
print("ok")
