#!/usr/bin/env python3
"""The feed-forward baseline of a SHD-format data set (docs/tasks.md): a linear softmax readout of
each sample's binned event counts (per-sample binning as sernn's task.binning = "per_sample": BINS
equal bins from the first to the last event, x 700 channels, flattened), trained with Adam on the
training file, accuracy on the test file. No recurrence and no membranes: what the counts alone
give a linear classifier, time resolved.

usage: scripts/counts_readout.py DATA_DIR [--bins 50] [--epochs 30] [--seed 1]
Needs numpy, torch and h5py (SNNTORCH_DIR=$(scripts/peer-snntorch.sh) puts h5py on the path).
Prints one JSON line: {"bins", "train_acc", "test_acc", "chance"}."""
import argparse
import json
import os
import sys

for d in (os.environ.get("SNNTORCH_DIR"),):
    if d and os.path.isdir(d):
        sys.path.insert(0, d)
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def binned(path, bins):
    with h5py.File(path, "r") as f:
        times, units, labels = f["spikes/times"], f["spikes/units"], np.asarray(f["labels"], np.int64)
        x = np.zeros((len(labels), bins, 700), np.float32)
        for i in range(len(labels)):
            t, u = np.asarray(times[i], np.float64), np.asarray(units[i], np.int64)
            if t.size == 0:
                continue
            span = t.max() - t.min()
            k = np.zeros_like(t, np.int64) if span <= 0 else np.minimum(((t - t.min()) / span * bins).astype(np.int64),
                                                                          bins - 1)
            np.add.at(x[i], (k, u), 1.0)
    return torch.from_numpy(x.reshape(len(labels), -1)), torch.from_numpy(labels)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("--bins", type=int, default=50)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    xtr, ytr = binned(os.path.join(a.data, "shd_train.h5"), a.bins)
    xte, yte = binned(os.path.join(a.data, "shd_test.h5"), a.bins)
    scale = xtr.std() + 1e-8
    xtr, xte = xtr / scale, xte / scale
    classes = int(max(ytr.max(), yte.max())) + 1
    model = torch.nn.Linear(xtr.shape[1], classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(a.epochs):
        for idx in torch.randperm(len(ytr)).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
    with torch.no_grad():
        acc = lambda x, y: float((model(x).argmax(1) == y).float().mean())  # noqa: E731
        print(json.dumps({"bins": a.bins, "train_acc": acc(xtr, ytr), "test_acc": acc(xte, yte),
                          "chance": 1.0 / len(torch.unique(ytr))}))


if __name__ == "__main__":
    main()
