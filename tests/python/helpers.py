"""Shared by the Python tests (ctest label `python`): the package under test, snnTorch when a
checkout is at hand, and an independent per-step reference of the LIF network (models/lif.h's
equations written out with plain PyTorch ops)."""
import os
import sys

import torch

import sernn  # noqa: F401  (registers torch.ops.sernn)

SOURCE_DIR = os.environ.get("SERNN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def snntorch():
    """The snntorch package: from $SNNTORCH_DIR or SOURCE/.peers (the folder holding `snntorch`),
    else the installed one (pip's, pinned in python/requirements-ci.txt), or None. With
    SERNN_REQUIRE_PEERS=1 (CI) a missing snnTorch is an error, not a skip."""
    for d in (os.environ.get("SNNTORCH_DIR"), os.path.join(SOURCE_DIR, ".peers")):
        if d and os.path.isdir(os.path.join(d, "snntorch")):
            if d not in sys.path:
                sys.path.insert(0, d)
            import snntorch as snn
            return snn
    try:
        import snntorch as snn
        return snn
    except ImportError:
        if os.environ.get("SERNN_REQUIRE_PEERS") == "1":
            raise
        return None


class FastSigmoidSpike(torch.autograd.Function):
    """H(x) forward, 1 / (slope |x| + 1)^2 backward."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (ctx.slope * x.abs() + 1.0) ** 2, None


def reference_network(drive, weight, beta, w_out, b_out, beta_out, threshold, slope, reset):
    """The per-step graph: V' by the reset rule, s' = H(V' - thr), U' = β_o U + W_o s' + b_o."""
    T, B, N = drive.shape
    v = drive.new_zeros(B, N)
    s = drive.new_zeros(B, N)
    u = drive.new_zeros(B, w_out.shape[0])
    b = beta.clamp(0, 1)
    bo = beta_out.clamp(0, 1)
    mems, spikes = [], []
    for t in range(T):
        r = (v > threshold).to(drive.dtype).detach()
        base = drive[t] + s @ weight.t()
        if reset == "subtract":
            v = b * v + base - r * threshold
        elif reset == "subtract_decayed":
            v = b * (v - r * threshold) + base
        elif reset == "zero":
            v = (1 - r) * (b * v + base)
        elif reset == "zero_immediate":
            v = (1 - r) * b * v + base
        else:
            v = b * v + base
        s = FastSigmoidSpike.apply(v - threshold, slope)
        u = bo * u + s @ w_out.t() + b_out
        mems.append(u)
        spikes.append(s)
    spikes = torch.stack(spikes)
    return torch.stack(mems), spikes, spikes.sum(0)


def network_inputs(T=12, B=3, N=7, C=4, dtype=torch.float32, seed=0, requires_grad=True):
    """drive [T, B, N] strong enough that neurons fire, weight, beta, readout weight/bias/beta."""
    g = torch.Generator().manual_seed(seed)
    drive = (torch.rand(T, B, N, generator=g, dtype=torch.float64) * 1.2).to(dtype)
    weight = (torch.randn(N, N, generator=g, dtype=torch.float64) * 0.4).to(dtype)
    beta = (0.7 + 0.25 * torch.rand(N, generator=g, dtype=torch.float64)).to(dtype)
    w_out = (torch.randn(C, N, generator=g, dtype=torch.float64) * 0.5).to(dtype)
    b_out = (torch.randn(C, generator=g, dtype=torch.float64) * 0.1).to(dtype)
    beta_out = torch.full((C,), 0.9, dtype=dtype)
    args = [drive, weight, beta, w_out, b_out]
    if requires_grad:
        for a in args:
            a.requires_grad_(True)
    return args + [beta_out]
