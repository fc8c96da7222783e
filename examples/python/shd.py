"""Spiking Heidelberg Digits for the Python examples: the HDF5 layout of tasks/shd.h (spikes/times
in seconds, spikes/units 0..699, labels 0..19) read with h5py into event counts with fixed bins
(bin k holds k dt <= t < (k + 1) dt, k < steps; later events are dropped)."""
import h5py
import torch

UNITS, CLASSES = 700, 20


def read_shd(path, steps, dt, limit=0):
    """(x [steps, samples, 700] float32 event counts, labels [samples] int64) of an SHD file;
    `limit` > 0 keeps the first `limit` samples."""
    with h5py.File(path, "r") as f:
        times, units, labels = f["spikes/times"], f["spikes/units"], f["labels"][:]
        n = len(labels) if limit <= 0 else min(limit, len(labels))
        x = torch.zeros(steps, n, UNITS)
        for i in range(n):
            # float16 on disk: exact in float32 and float64, as the C++ reader widens it
            k = torch.floor(torch.from_numpy(times[i].astype("float32")).double() / dt).long()
            u = torch.from_numpy(units[i].astype("int64"))
            keep = k < steps
            x.index_put_((k[keep], torch.full_like(k[keep], i), u[keep]), torch.ones(int(keep.sum())),
                         accumulate=True)
    return x, torch.from_numpy(labels[:n].astype("int64"))
