#!/usr/bin/env python3
"""snnTorch's side of `sernn bench train --model shd`: the same network and training step,
timed the same way, written in the same benchmark JSON (DESIGN §7), so the two can be compared in
one run on one machine.

Network (as sernn's SpikingRNN): Linear(700 -> N) -> RLeaky(N, all-to-all recurrent Linear,
learnable per-neuron beta, threshold 1, reset subtract, fast-sigmoid surrogate slope 25) ->
Linear(N -> 20) -> Leaky readout (reset none, per-class beta). One step = forward over T steps,
cross-entropy on the max-over-time readout membrane, backward, Adam(1e-3). Input: Bernoulli(0.02)
spikes [T, B, 700]. Median of --repeats timed steps after one warm-up step.

usage: bench/snntorch_train.py [--snntorch DIR] [--device cpu|cuda] [--hidden 100,1024]
       [--steps 200,1000] [--batch 128] [--threads 2] [--repeats 3] [--json FILE]
DIR is the folder that holds the `snntorch` package (default: the installed one, e.g. pip's).
"""
import argparse
import json
import os
import statistics
import sys
import time


def snntorch_net(snn, n, inputs=700, classes=20):
    """The benchmark network in snnTorch: Linear -> RLeaky -> Linear -> Leaky (reset none);
    forward(x [T, B, inputs]) -> readout membrane [T, B, classes]."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc_in = torch.nn.Linear(inputs, n)
            self.lif = snn.RLeaky(beta=torch.full((n,), 0.95), linear_features=n, learn_beta=True,
                                  reset_mechanism="subtract", spike_grad=snn.surrogate.fast_sigmoid(slope=25))
            self.fc_out = torch.nn.Linear(n, classes)
            self.out = snn.Leaky(beta=torch.full((classes,), 0.95), reset_mechanism="none", output=True)

        def forward(self, x):
            spk, mem = self.lif.init_rleaky()
            mem_out = self.out.init_leaky()
            rec = []
            for t in range(x.shape[0]):
                spk, mem = self.lif(self.fc_in(x[t]), spk, mem)
                _, mem_out = self.out(self.fc_out(spk), mem_out)
                rec.append(mem_out)
            return torch.stack(rec)

    return Net()


def time_step(step, device, repeats):
    """Median wall time (ms) of `step` over `repeats` calls after one warm-up call, and the peak
    memory (MB) it allocates on a CUDA device (None on the CPU)."""
    import torch

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    peak = (torch.cuda.max_memory_allocated(device) - base) / 1048576.0 if device.type == "cuda" else None
    return statistics.median(times), peak


def parse_args(doc, hidden, steps):
    """The options both snnTorch benchmarks take, parsed; snnTorch's folder goes on sys.path.
    Returns (args, torch, snntorch, device)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--snntorch", help="folder holding the snntorch package (default: the installed snntorch)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--hidden", default=hidden, help="hidden sizes, comma separated")
    ap.add_argument("--steps", default=steps, help="time steps, comma separated")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the benchmark JSON here")
    a = ap.parse_args()
    if a.snntorch:
        if not os.path.isdir(os.path.join(a.snntorch, "snntorch")):
            ap.error(f"--snntorch {a.snntorch}: no snntorch package in that folder")
        sys.path.insert(0, a.snntorch)
    import torch
    try:
        import snntorch as snn
    except ImportError:
        ap.error("no snntorch: pip install snntorch (python/requirements-ci.txt pins the version) or --snntorch DIR")

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    return a, torch, snn, torch.device(a.device)


def cases(a):
    """(hidden, steps) of every case the options name."""
    return [(int(n), int(t)) for n in a.hidden.split(",") for t in a.steps.split(",")]


def write_report(a, torch, snn, dev, results):
    """The benchmark JSON (DESIGN §7) to --json, if given."""
    device = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    report = {"device": device, "threads": torch.get_num_threads(), "torch_version": torch.__version__,
              "snntorch_version": getattr(snn, "__version__", "?"), "results": results}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(report, fh, indent=2)
        print("wrote", a.json)


def main():
    a, torch, snn, dev = parse_args(__doc__, "100,1024", "200,1000")
    results = []
    for n, steps in cases(a):
        torch.manual_seed(0)
        net = snntorch_net(snn, n).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = (torch.rand(steps, a.batch, 700) < 0.02).float().to(dev)
        y = torch.randint(0, 20, (a.batch,)).to(dev)

        def step():
            opt.zero_grad()
            out = net(x)
            torch.nn.functional.cross_entropy(out.max(0).values, y).backward()
            opt.step()

        ms, peak = time_step(step, dev, a.repeats)
        r = {"model": "shd", "impl": "snntorch", "hidden": n, "batch": a.batch, "steps": steps,
             "fwd_bwd_ms": ms, "ms_per_step": ms / steps, "samples_per_s": a.batch / (ms / 1000.0),
             "peak_mem_mb": peak}
        results.append(r)
        print(f"snntorch  N={n:<5} T={steps:<5} B={a.batch}: {ms:9.1f} ms/iter  {r['samples_per_s']:8.1f} samples/s",
              flush=True)
    write_report(a, torch, snn, dev, results)

if __name__ == "__main__":
    main()
