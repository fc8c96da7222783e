"""Modules on sernn's fused operators: the recurrent LIF layer with its leaky readout (a whole
sequence in one call), and the spiking network of the `sernn` program around it.

Model (snnTorch 0.9 semantics, models/lif.h): the hidden layer is snnTorch's `RLeaky` (all-to-all
recurrent `Linear` with bias, per-neuron β clamped to [0, 1], Heaviside spikes with the fast-sigmoid
surrogate 1 / (slope |V - thr| + 1)^2), the readout is `Linear(N, C)` into a `Leaky` that never
fires (reset none, per-class β). Where snnTorch loops over time in Python with a graph node per op
and step, `torch.ops.sernn.lif_network` runs the whole sequence as one autograd node (CPU loop or
CUDA kernel) and keeps only what the backward needs.
"""
import math

import torch
from torch import nn

RESETS = ("subtract", "subtract_decayed", "zero", "none", "zero_immediate")

# snnTorch RLeaky options and the value the fused layer computes; any other value is refused.
_SNNTORCH_FIXED = {
    "V": 1.0,
    "conv2d_channels": None,
    "kernel_size": None,
    "surrogate_disable": False,
    "init_hidden": False,
    "inhibition": False,
    "learn_threshold": False,
    "state_quant": False,
    "output": False,
    "reset_delay": True,
}


def surrogate_slope(spike_grad, slope):
    """The fast-sigmoid slope of an snnTorch `surrogate.fast_sigmoid(slope=...)`, or `slope` when
    spike_grad is None. Other surrogates have no fused equivalent and are refused."""
    if spike_grad is None:
        return float(slope)
    if getattr(spike_grad, "__qualname__", "").startswith("fast_sigmoid.") and spike_grad.__closure__:
        for cell in spike_grad.__closure__:
            if isinstance(cell.cell_contents, (int, float)):
                return float(cell.cell_contents)
    name = getattr(spike_grad, "__qualname__", type(spike_grad).__name__)
    raise NotImplementedError(
        f"sernn.RLeaky: spike_grad {name} has no fused equivalent; sernn fuses the fast-sigmoid surrogate "
        "only: pass spike_grad=snntorch.surrogate.fast_sigmoid(slope=S) or slope=S")


def _per_neuron(value, n, what):
    t = torch.as_tensor(value, dtype=torch.float32).detach().clone()
    if t.dim() == 0:
        t = t.expand(n).clone()
    if t.shape != (n,):
        raise ValueError(f"sernn.RLeaky: {what} must be a number or a tensor of {n} values, got shape "
                         f"{tuple(t.shape)}")
    return t


class RLeaky(nn.Module):
    """snnTorch's `RLeaky` (N neurons) and the `Linear(N, C)` + `Leaky` readout after it, fused.

    Takes snnTorch's arguments where the semantics match: `beta` (a number or [N]), `threshold`,
    `spike_grad` (snnTorch's fast_sigmoid; or `slope`), `learn_beta`, `learn_recurrent`,
    `reset_mechanism` ("subtract", "zero", "none", and sernn's "subtract_decayed": snnTorch <= 0.6),
    `reset_delay` (False only with "zero": sernn's "zero_immediate", which NIR's LIF and snnTorch's
    import_from_nir compute),
    `all_to_all=True`, `linear_features=N`; options with no fused equivalent raise
    NotImplementedError. `readout_features` C and `readout_beta` (a number or [C], constant) define
    the readout.

    forward(cur [T, B, N]) -> (readout_mem [T, B, C], spikes [T, B, N] uint8, counts [B, N]):
    `cur` is the feed-forward current of every step (the recurrent bias is added here); the
    readout membrane and the spike counts carry gradients (through the surrogate), the spikes
    themselves do not. Parameters: recurrent.weight [N, N], recurrent.bias [N], beta [N],
    readout.weight [C, N], readout.bias [C]; buffer readout_beta [C].
    """

    def __init__(self, beta, linear_features, readout_features, threshold=1.0, spike_grad=None, slope=25.0,
                 learn_beta=False, learn_recurrent=True, reset_mechanism="subtract", all_to_all=True,
                 readout_beta=0.95, **snntorch_options):
        super().__init__()
        if snntorch_options.get("reset_delay", True) is False and reset_mechanism == "zero":
            snntorch_options.pop("reset_delay")
            reset_mechanism = "zero_immediate"
        for key, value in snntorch_options.items():
            if key not in _SNNTORCH_FIXED:
                raise TypeError(f"sernn.RLeaky: unknown argument {key}")
            if value != _SNNTORCH_FIXED[key]:
                raise NotImplementedError(f"sernn.RLeaky: {key}={value!r} has no fused equivalent (sernn computes "
                                          f"{key}={_SNNTORCH_FIXED[key]!r})")
        if not all_to_all:
            raise NotImplementedError("sernn.RLeaky: all_to_all=False (one-to-one recurrence) has no fused "
                                      "equivalent; sernn fuses the all-to-all recurrent Linear")
        if reset_mechanism not in RESETS:
            raise ValueError(f"sernn.RLeaky: reset_mechanism must be one of {', '.join(RESETS)}, got "
                             f"{reset_mechanism!r}")
        n, c = int(linear_features), int(readout_features)
        self.threshold = float(threshold)
        self.slope = surrogate_slope(spike_grad, slope)
        self.reset_mechanism = reset_mechanism
        self.recurrent = nn.Linear(n, n)
        self.recurrent.weight.requires_grad_(learn_recurrent)
        self.recurrent.bias.requires_grad_(learn_recurrent)
        self.beta = nn.Parameter(_per_neuron(beta, n, "beta"), requires_grad=learn_beta)
        self.readout = nn.Linear(n, c)
        self.register_buffer("readout_beta", _per_neuron(readout_beta, c, "readout_beta"))

    def forward(self, cur):
        return self.fused(cur + self.recurrent.bias)

    def fused(self, drive):
        """The fused layer on `drive` = the current with the recurrent bias already added (a method
        of its own so that subclasses call it from TorchScript)."""
        return torch.ops.sernn.lif_network(drive, self.recurrent.weight, self.beta, self.readout.weight,
                                           self.readout.bias, self.readout_beta, self.threshold, self.slope,
                                           self.reset_mechanism)

    @classmethod
    def from_snntorch(cls, rleaky, fc_out, leaky):
        """The fused layer with the parameters of an snnTorch RLeaky, its readout Linear and the
        readout Leaky (copied; the snnTorch modules are not changed)."""
        n = rleaky.recurrent.weight.shape[0]
        if getattr(leaky, "reset_mechanism", "none") != "none":
            raise NotImplementedError("sernn.RLeaky.from_snntorch: the readout Leaky must have "
                                      "reset_mechanism='none' (sernn's readout never fires)")
        slope = surrogate_slope(rleaky.spike_grad, 25.0)  # snnTorch's default (atan) is refused
        layer = cls(rleaky.beta.detach(), n, fc_out.weight.shape[0], threshold=float(rleaky.threshold),
                    slope=slope, learn_beta=isinstance(rleaky.beta, nn.Parameter),
                    reset_mechanism=rleaky.reset_mechanism, reset_delay=getattr(rleaky, "reset_delay", True),
                    readout_beta=leaky.beta.detach())
        with torch.no_grad():
            layer.recurrent.load_state_dict(rleaky.recurrent.state_dict())
            layer.readout.load_state_dict(fc_out.state_dict())
        return layer.to(rleaky.recurrent.weight.device)


# SpikingNetwork's state (parameters, then the buffer readout_beta): the names of the C++ model's.
SPIKING_STATE = ("input.weight", "input.bias", "recurrent.weight", "recurrent.bias", "beta", "readout.weight",
                 "readout.bias", "readout_beta")


class SpikingNetwork(RLeaky):
    """The `sernn train` spiking network (models/spiking_rnn.h): Linear(inputs, N) -> RLeaky(N) ->
    Linear(N, C) -> Leaky readout, with the parameter names of the C++ model (input.*,
    recurrent.*, beta, readout.*, readout_beta), so a run's saved model loads with
    load_state_dict (sernn.load_run).

    forward(x [T, B, inputs], dense or sparse COO event counts) -> (logits [B, C], readout_mem,
    spikes, counts). Logits are the readout membrane's maximum over time (`sum_readout`: its sum),
    snnTorch's ce_max_membrane_loss. The input projection is torch.ops.sernn.input_projection: for
    mostly-zero inputs it reads only the nonzeros. Both modules compile with torch.jit.script.
    """

    def __init__(self, inputs, hidden, outputs, beta=None, sum_readout=False, tau_mean_ms=20.0, dt_ms=0.5,
                 beta_min=math.exp(-1.0 / 3.0), beta_max=0.995, readout_beta=math.exp(-0.5 / 20.0), **rleaky_options):
        if beta is None:
            # The C++ model's initialisation: tau ~ Gamma(3, tau_mean / 3), beta = exp(-dt / tau), clipped.
            tau = torch.distributions.Gamma(3.0, 3.0 / tau_mean_ms).sample((hidden,)).double()
            beta = torch.exp(-dt_ms / tau).clamp(beta_min, beta_max).float()
        rleaky_options.setdefault("learn_beta", True)
        super().__init__(beta, hidden, outputs, readout_beta=readout_beta, **rleaky_options)
        self.input = nn.Linear(inputs, hidden)
        self.sum_readout = bool(sum_readout)
        self.beta_range = (float(beta_min), float(beta_max))

    def forward(self, x):
        # both biases folded before the projection, as the C++ model: the same rounding, the same spikes
        drive = torch.ops.sernn.input_projection(x, self.input.weight, self.input.bias + self.recurrent.bias)
        readout_mem, spikes, counts = self.fused(drive)
        logits = readout_mem.sum(0) if self.sum_readout else readout_mem.max(0)[0]
        return logits, readout_mem, spikes, counts

    def clip_beta(self):
        """Clips beta to [beta_min, beta_max], as `sernn train` does after every optimiser step."""
        with torch.no_grad():
            self.beta.clamp_(*self.beta_range)


class SpikingEnsemble(nn.Module):
    """K SpikingNetworks of one shape trained as one module (the `sernn sweep --ensemble` form):
    every parameter is stacked along a leading member dimension, the members read one input batch
    (its nonzeros found once), and the fused operators run all members in one call
    (torch.ops.sernn.input_projection_members, lif_network_members). Member k computes exactly what
    SpikingNetwork k computes alone; the loss is the sum of the members' losses, so each member's
    gradient, and with elementwise optimisers such as Adam each member's step, is its own.

    Parameters (K = members): input_weight [K, N, I], input_bias [K, N], recurrent_weight [K, N, N],
    recurrent_bias [K, N], beta [K, N], readout_weight [K, C, N], readout_bias [K, C]; buffer
    readout_beta [K, C]. forward(x [T, B, I], dense or sparse COO) -> (logits [K, B, C],
    readout_mem [K, T, B, C], spikes [K, T, B, N], counts [K, B, N]).
    """

    # (ensemble parameter, SpikingNetwork parameter): every parameter of SPIKING_STATE
    _STACKED = tuple((key.replace(".", "_"), key) for key in SPIKING_STATE if key != "readout_beta")

    def __init__(self, members, inputs, hidden, outputs, **network_options):
        super().__init__()
        self._init_from([SpikingNetwork(inputs, hidden, outputs, **network_options) for _ in range(int(members))])

    def _init_from(self, networks):
        first = networks[0]
        for net in networks[1:]:
            same = (net.threshold, net.slope, net.reset_mechanism, net.sum_readout, net.beta_range)
            if same != (first.threshold, first.slope, first.reset_mechanism, first.sum_readout, first.beta_range) or \
                    net.recurrent.weight.shape != first.recurrent.weight.shape or \
                    net.input.weight.shape != first.input.weight.shape:
                raise ValueError("sernn.SpikingEnsemble: the members must share shapes, threshold, slope, reset, "
                                 "readout and beta range")
        self.threshold, self.slope, self.reset_mechanism = first.threshold, first.slope, first.reset_mechanism
        self.sum_readout, self.beta_range = first.sum_readout, first.beta_range
        for name, key in self._STACKED:
            values = [dict(net.named_parameters())[key] for net in networks]
            stacked = torch.stack([v.detach() for v in values]).clone()
            setattr(self, name, nn.Parameter(stacked, requires_grad=values[0].requires_grad))
        self.register_buffer("readout_beta", torch.stack([net.readout_beta for net in networks]).clone())

    @classmethod
    def from_networks(cls, networks):
        """An ensemble with copies of these SpikingNetworks' parameters (the networks are not changed)."""
        if not networks:
            raise ValueError("sernn.SpikingEnsemble.from_networks: no networks")
        ensemble = cls.__new__(cls)
        nn.Module.__init__(ensemble)
        ensemble._init_from(list(networks))
        return ensemble

    def member(self, k):
        """Member k as a SpikingNetwork (a copy of its parameters)."""
        n, i = self.recurrent_weight.shape[-1], self.input_weight.shape[-1]
        net = SpikingNetwork(i, n, self.readout_weight.shape[1], beta=self.beta[k].detach(), threshold=self.threshold,
                             slope=self.slope, reset_mechanism=self.reset_mechanism, sum_readout=self.sum_readout,
                             beta_min=self.beta_range[0], beta_max=self.beta_range[1],
                             readout_beta=self.readout_beta[k])
        with torch.no_grad():
            for name, key in self._STACKED:
                dict(net.named_parameters())[key].copy_(getattr(self, name)[k])
        return net

    def forward(self, x):
        # both biases folded before the projection, as SpikingNetwork and the C++ model
        drive = torch.ops.sernn.input_projection_members(x, self.input_weight, self.input_bias + self.recurrent_bias)
        readout_mem, spikes, counts = torch.ops.sernn.lif_network_members(
            drive, self.recurrent_weight, self.beta, self.readout_weight, self.readout_bias, self.readout_beta,
            self.threshold, self.slope, self.reset_mechanism)
        logits = readout_mem.sum(1) if self.sum_readout else readout_mem.max(1)[0]
        return logits, readout_mem, spikes, counts

    def clip_beta(self):
        """Clips every member's beta to [beta_min, beta_max] (after each optimiser step)."""
        with torch.no_grad():
            self.beta.clamp_(*self.beta_range)
