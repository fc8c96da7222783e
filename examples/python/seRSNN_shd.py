#!/usr/bin/env python3
"""The seed paper's snnTorch notebook (DanAkarca/entropy_RNNs, seRSNN_demo.ipynb) ported to sernn,
on SHD-shaped data: 700 inputs -> Linear -> 100 recurrent LIF neurons on a 5 x 5 x 4 grid (snnTorch
RLeaky, learnable heterogeneous beta from tau ~ Gamma(3, 20 ms / 3) at dt = 0.5 ms, clipped to
[0.7165, 0.995] after every step, fast-sigmoid slope 100) -> Linear -> leaky readout (beta 0.9753),
Adam(1e-3), loss = task + gamma * sum |W| o D o C with the communicability C detached (the
notebook's regulariser, in-strength normalisation).

What changes: the notebook steps snnTorch's layers in a Python loop over time; here the recurrent
layer and its readout run as one fused operator (torch.ops.sernn.lif_network) and the penalty is
torch.ops.sernn.wiring_penalty. The notebook's readout is a spiking Leaky trained with snnTorch's
mse_count_loss on DVS Gesture; sernn's fused readout never fires, so the task loss is the
cross-entropy of the readout membrane's maximum over time (snnTorch's ce_max_membrane_loss), as
`sernn train` uses on SHD.

usage: examples/python/seRSNN_shd.py --data DIR [--epochs 5] [--batch 64] [--steps 100]
       [--dt 0.01] [--gamma 0.05] [--max-train 0] [--device cpu] [--seed 211] [--json FILE]
DIR holds shd_train.h5 and shd_test.h5 (the real files from `sernn data fetch-shd`, or a synthetic
set from `sernn data synth-shd --out DIR`). `sernn` must be importable (README: sernn from Python).
"""
import argparse
import json
import math
import os
import sys
import time

import torch

import sernn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shd import CLASSES, UNITS, read_shd  # noqa: E402


def grid_coords(shape=(5, 5, 4)):
    """Neuron positions on the notebook's 5 x 5 x 4 grid, [100, 3]."""
    axes = [torch.arange(n, dtype=torch.float64) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def evaluate(net, x, labels, batch):
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[1], batch):
            logits = net(x[:, i:i + batch])[0]
            correct += int((logits.argmax(1) == labels[i:i + batch]).sum())
    return correct / max(1, x.shape[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with shd_train.h5 and shd_test.h5")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100, help="time bins per sample")
    ap.add_argument("--dt", type=float, default=0.01, help="bin width in seconds")
    ap.add_argument("--gamma", type=float, default=0.05, help="regularisation strength (the notebook's 0.5e-1)")
    ap.add_argument("--max-train", type=int, default=0, help="use only the first N training samples (0: all)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=211)
    ap.add_argument("--json", help="write the per-epoch history here")
    a = ap.parse_args()
    for name in ("shd_train.h5", "shd_test.h5"):
        if not os.path.isfile(os.path.join(a.data, name)):
            ap.error(f"--data {a.data}: no {name} (write a synthetic set with `sernn data synth-shd --out {a.data}`)")
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)

    x_train, y_train = read_shd(os.path.join(a.data, "shd_train.h5"), a.steps, a.dt, a.max_train)
    x_test, y_test = read_shd(os.path.join(a.data, "shd_test.h5"), a.steps, a.dt)
    net = sernn.SpikingNetwork(UNITS, 100, CLASSES, slope=100.0, tau_mean_ms=20.0, dt_ms=0.5, beta_min=0.7165,
                               beta_max=0.995, readout_beta=0.9753).to(dev)
    penalty = sernn.seRNNPenalty(grid_coords(), kind="sernn", grad="detached", strength="in").to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999))
    history = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(x_train.shape[1])
        losses = []
        for i in range(0, x_train.shape[1] - a.batch + 1, a.batch):  # drop_last, as the notebook
            idx = order[i:i + a.batch]
            data, targets = x_train[:, idx].to(dev).to_sparse(), y_train[idx].to(dev)
            logits = net(data)[0]
            loss = torch.nn.functional.cross_entropy(logits, targets) + a.gamma * penalty(net.recurrent.weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            net.clip_beta()
            losses.append(loss.item())
        row = {"epoch": epoch, "loss": sum(losses) / max(1, len(losses)),
               "train_accuracy": evaluate(net, x_train.to(dev), y_train.to(dev), a.batch),
               "test_accuracy": evaluate(net, x_test.to(dev), y_test.to(dev), a.batch),
               "sum_abs_w": float(net.recurrent.weight.detach().abs().sum()),
               "seconds": time.perf_counter() - t0}
        history.append(row)
        print(f"epoch {epoch}: loss {row['loss']:.4f}  train {row['train_accuracy']:.3f}  test "
              f"{row['test_accuracy']:.3f}  sum|W| {row['sum_abs_w']:.1f}  {row['seconds']:.1f} s", flush=True)
        if not math.isfinite(row["loss"]):
            sys.exit("the loss diverged")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": a.device, "history": history}, f, indent=2)


if __name__ == "__main__":
    main()
