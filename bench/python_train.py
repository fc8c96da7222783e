#!/usr/bin/env python3
"""snnTorch's training loop and the same loop with sernn's fused layer (the Python package `sernn`,
issue 28): same network, same initial weights, same data, same machine, one call.

Network: Linear(700 -> N) -> RLeaky(N; all-to-all recurrent Linear, learnable per-neuron beta,
threshold 1, reset subtract, fast-sigmoid surrogate slope 25) -> Linear(N -> 20) -> Leaky readout
(reset none). One training step = forward over T steps, cross-entropy on the max-over-time readout
membrane, backward, Adam(1e-3). Input: Bernoulli(0.02) spikes [T, B, 700], one draw for all loops,
each given it as its data loader would (snnTorch: dense; sernn on the CPU: sparse COO, and
`sernn_dense` the dense tensor too). snnTorch: bench/snntorch_train.py's network, stepped in Python.
sernn: sernn.SpikingNetwork with the snnTorch network's initial weights. Median of --repeats timed
steps after one warm-up step each.

usage: bench/python_train.py [--snntorch DIR] [--device cpu|cuda] [--hidden 100] [--steps 200]
       [--batch 128] [--threads 0] [--repeats 3] [--json FILE]
DIR holds the `snntorch` package (default: the installed snntorch); `sernn` must be importable (PYTHONPATH=BUILD/python,
or the install prefix's site directory). JSON as the other benchmarks (DESIGN §7):
{"device", "threads", "torch_version", "snntorch_version", "results": [{"impl": "snntorch"|"sernn"|
"sernn_dense", "hidden", "steps", "batch", "samples_per_s", "fwd_bwd_ms", "peak_mem_mb"[,
"speedup_vs_snntorch"]}]}.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snntorch_train import cases, parse_args, snntorch_net, time_step, write_report  # noqa: E402


def main():
    a, torch, snn, dev = parse_args(__doc__, "100", "200")
    import sernn

    results = []
    for n, steps in cases(a):
        torch.manual_seed(0)
        reference = snntorch_net(snn, n).to(dev)
        fused = sernn.SpikingNetwork(700, n, 20, slope=25.0, learn_beta=True, beta_min=0.0, beta_max=1.0)
        with torch.no_grad():
            fused.load_state_dict(_fused_state(reference), strict=True)
        fused = fused.to(dev)
        x = (torch.rand(steps, a.batch, 700) < 0.02).float().to(dev)
        y = torch.randint(0, 20, (a.batch,)).to(dev)
        # Each loop gets the batch in the form its data loader makes: snnTorch's Linear a dense
        # tensor; sernn on the CPU the sparse COO tensor (as sernn's SHD loader and
        # examples/python), whose nonzeros its input projection reads. `sernn_dense` is sernn on the
        # dense tensor: the scan that finds the nonzeros (a memory-bound pass over T x B x 700
        # floats) is then inside the step. On CUDA the projection is a GEMM on the dense tensor.
        loops = [("snntorch", reference, x, lambda out: out.max(0).values)]
        if dev.type == "cpu":
            loops += [("sernn", fused, x.to_sparse(), lambda out: out[0]), ("sernn_dense", fused, x, lambda out: out[0])]
        else:
            loops += [("sernn", fused, x, lambda out: out[0])]
        speed = {}
        for impl, net, inputs, logits_of in loops:
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)

            def step():
                opt.zero_grad()
                torch.nn.functional.cross_entropy(logits_of(net(inputs)), y).backward()
                opt.step()

            ms, peak = time_step(step, dev, a.repeats)
            r = {"model": "shd", "impl": impl, "hidden": n, "batch": a.batch, "steps": steps, "fwd_bwd_ms": ms,
                 "samples_per_s": a.batch / (ms / 1000.0), "peak_mem_mb": peak}
            speed[impl] = r["samples_per_s"]
            if impl != "snntorch":
                r["speedup_vs_snntorch"] = speed[impl] / speed["snntorch"]
            results.append(r)
            extra = f"  {r['speedup_vs_snntorch']:.1f}x snnTorch" if impl != "snntorch" else ""
            print(f"{impl:<11} N={n:<5} T={steps:<5} B={a.batch}: {ms:9.1f} ms/step {r['samples_per_s']:9.1f} "
                  f"samples/s{extra}", flush=True)
    write_report(a, torch, snn, dev, results)

def _fused_state(net):
    """snnTorch's parameters under sernn.SpikingNetwork's names."""
    return {"input.weight": net.fc_in.weight, "input.bias": net.fc_in.bias,
            "recurrent.weight": net.lif.recurrent.weight, "recurrent.bias": net.lif.recurrent.bias,
            "beta": net.lif.beta, "readout.weight": net.fc_out.weight, "readout.bias": net.fc_out.bias,
            "readout_beta": net.out.beta}


if __name__ == "__main__":
    main()
