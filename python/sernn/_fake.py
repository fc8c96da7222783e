"""Fake (meta) kernels of the operators, for torch.compile and torch.library.opcheck.

A fake kernel gives the shapes, dtypes and devices of an operator's results without computing
them; torch.compile traces a model with them (FakeTensor) and calls the real kernels when the
compiled graph runs. Every tensor operator of ops/ops.cpp has one here, the halves of the autograd
nodes (lif_network_fwd/_bwd, *_backward) included, so that both the forward and the backward of
a training step trace into a graph: each result is contiguous, as the C++ kernels return it.

read_tensors and pool_threads are host functions (no tensor arguments: a file read, a count) and
stay outside graphs. Torch before 2.4 has neither torch.compile's custom-operator support nor
torch.library.register_fake; there this module registers nothing.
"""
import torch


def _empty(like, shape, dtype=None):
    return like.new_empty(tuple(shape), dtype=like.dtype if dtype is None else dtype)


def _network(drive, readout_weight, members):
    lead = tuple(drive.shape[:1]) if members else ()
    steps, batch, n = drive.shape[-3:]
    c = readout_weight.shape[-2]
    return (_empty(drive, lead + (steps, batch, c)), _empty(drive, drive.shape, torch.uint8),
            _empty(drive, lead + (batch, n)))


def _square(name, w):
    torch._check(w.dim() >= 2, lambda: f"sernn.{name}: weight must be [N, N] or [K, N, N], got {tuple(w.shape)}")
    torch._check(w.shape[-1] == w.shape[-2],
                 lambda: f"sernn.{name}: weight must be [N, N] or [K, N, N], got {tuple(w.shape)}")


def register(register_fake):
    """Registers every fake kernel with `register_fake` (torch.library.register_fake)."""

    @register_fake("sernn::lif_network")
    def _lif_network(drive, weight, beta, readout_weight, readout_bias, readout_beta, threshold=1.0, slope=25.0,
                     reset="subtract"):
        torch._check(drive.dim() == 3, lambda: f"sernn.lif_network: drive must be [T, B, N], got {tuple(drive.shape)}")
        return _network(drive, readout_weight, False)

    @register_fake("sernn::lif_network_members")
    def _lif_network_members(drive, weight, beta, readout_weight, readout_bias, readout_beta, threshold=1.0,
                             slope=25.0, reset="subtract"):
        torch._check(drive.dim() == 4,
                     lambda: f"sernn.lif_network_members: drive must be [K, T, B, N], got {tuple(drive.shape)}")
        return _network(drive, readout_weight, True)

    @register_fake("sernn::lif_network_fwd")
    def _lif_network_fwd(drive, weight, beta, readout_weight, readout_bias, readout_beta, threshold, reset, members):
        return _network(drive, readout_weight, members) + (_empty(drive, drive.shape),)

    @register_fake("sernn::lif_network_bwd")
    def _lif_network_bwd(grad_readout_mem, grad_counts, mem, spikes, weight, beta, readout_weight, readout_beta,
                         threshold, slope, reset, members):
        return (_empty(mem, mem.shape), _empty(weight, weight.shape), _empty(beta, beta.shape),
                _empty(readout_weight, readout_weight.shape), _empty(readout_weight, readout_weight.shape[:-1]))

    def projection(x, weight, members):
        steps, batch = x.shape[0], x.shape[1]
        lead = tuple(weight.shape[:1]) if members else ()
        return _empty(weight, lead + (steps, batch, weight.shape[-2]))

    @register_fake("sernn::input_projection")
    def _input_projection(x, weight, bias, max_density=0.25):
        torch._check(x.dim() == 3, lambda: f"sernn.input_projection: x must be [T, B, I], got {tuple(x.shape)}")
        return projection(x, weight, False)

    @register_fake("sernn::input_projection_members")
    def _input_projection_members(x, weight, bias, max_density=0.25):
        torch._check(x.dim() == 3, lambda: f"sernn.input_projection_members: x must be [T, B, I], got {tuple(x.shape)}")
        return projection(x, weight, True)

    def projection_grads(grad, x, weight, bias, max_density):
        return _empty(weight, weight.shape), _empty(bias, bias.shape)

    register_fake("sernn::input_projection_backward")(projection_grads)
    register_fake("sernn::input_projection_members_backward")(projection_grads)

    def same_as(name):
        def fake(w, *args, **kwargs):
            _square(name, w)
            return _empty(w, w.shape)
        return fake

    def penalty_of(name):
        def fake(w, *args, **kwargs):
            _square(name, w)
            return _empty(w, w.shape[:-2])
        return fake

    def weight_grad(grad, w, *args, **kwargs):
        return _empty(w, w.shape)

    for name in ("expm", "communicability", "communicability_detached", "resolvent"):
        register_fake("sernn::" + name)(same_as(name))
    for name in ("wiring_penalty", "resolvent_penalty"):
        register_fake("sernn::" + name)(penalty_of(name))
    for name in ("expm", "communicability", "wiring_penalty", "resolvent", "resolvent_penalty"):
        register_fake(f"sernn::{name}_backward")(weight_grad)


def register_all():
    register_fake = getattr(torch.library, "register_fake", None)
    if register_fake is not None:
        register(register_fake)
