#!/usr/bin/env python3
"""snnTorch's side of `sernn bench train --model shd`: the same network and training step,
timed the same way, written in the same benchmark JSON (DESIGN §7), so the two can be compared in
one run on one machine.

Network (as sernn's SpikingRNN): Linear(700 -> N) -> RLeaky(N, all-to-all recurrent Linear,
learnable per-neuron beta, threshold 1, reset subtract, fast-sigmoid surrogate slope 25) ->
Linear(N -> 20) -> Leaky readout (reset none, per-class beta). One step = forward over T steps,
cross-entropy on the max-over-time readout membrane, backward, Adam(1e-3). Input: Bernoulli(0.02)
spikes [T, B, 700]. Median of --repeats timed steps after one warm-up step.

usage: bench/snntorch_train.py --snntorch DIR [--device cpu|cuda] [--hidden 100,1024]
       [--steps 200,1000] [--batch 128] [--threads 2] [--repeats 3] [--json FILE]
DIR is the folder that holds the `snntorch` package (a checkout; Debian's python3-torch runs it).
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snntorch", required=True, help="folder holding the snntorch package")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--hidden", default="100,1024")
    ap.add_argument("--steps", default="200,1000")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the benchmark JSON here")
    a = ap.parse_args()
    sys.path.insert(0, a.snntorch)
    import torch
    import snntorch as snn
    from snntorch import surrogate

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    class Net(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc_in = torch.nn.Linear(700, n)
            self.lif = snn.RLeaky(beta=torch.full((n,), 0.95), linear_features=n, learn_beta=True,
                                  reset_mechanism="subtract", spike_grad=surrogate.fast_sigmoid(slope=25))
            self.fc_out = torch.nn.Linear(n, 20)
            self.out = snn.Leaky(beta=torch.full((20,), 0.95), reset_mechanism="none", output=True)

        def forward(self, x):
            spk, mem = self.lif.init_rleaky()
            mem_out = self.out.init_leaky()
            rec = []
            for t in range(x.shape[0]):
                spk, mem = self.lif(self.fc_in(x[t]), spk, mem)
                _, mem_out = self.out(self.fc_out(spk), mem_out)
                rec.append(mem_out)
            return torch.stack(rec)

    results = []
    for n in [int(v) for v in a.hidden.split(",")]:
        for steps in [int(v) for v in a.steps.split(",")]:
            torch.manual_seed(0)
            net = Net(n).to(dev)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            x = (torch.rand(steps, a.batch, 700) < 0.02).float().to(dev)
            y = torch.randint(0, 20, (a.batch,)).to(dev)

            def step():
                opt.zero_grad()
                out = net(x)
                torch.nn.functional.cross_entropy(out.max(0).values, y).backward()
                opt.step()

            step()
            sync()
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
                base = torch.cuda.memory_allocated(dev)
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                step()
                sync()
                times.append((time.perf_counter() - t0) * 1000.0)
            ms = statistics.median(times)
            peak = (torch.cuda.max_memory_allocated(dev) - base) / 1048576.0 if dev.type == "cuda" else None
            r = {"model": "shd", "impl": "snntorch", "hidden": n, "batch": a.batch, "steps": steps,
                 "fwd_bwd_ms": ms, "ms_per_step": ms / steps, "samples_per_s": a.batch / (ms / 1000.0),
                 "peak_mem_mb": peak}
            results.append(r)
            print(f"snntorch  N={n:<5} T={steps:<5} B={a.batch}: {ms:9.1f} ms/iter  {r['samples_per_s']:8.1f} samples/s",
                  flush=True)
    device = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    report = {"device": device, "threads": torch.get_num_threads(), "torch_version": torch.__version__,
              "snntorch_version": getattr(snn, "__version__", "?"), "results": results}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(report, fh, indent=2)
        print("wrote", a.json)


if __name__ == "__main__":
    main()
