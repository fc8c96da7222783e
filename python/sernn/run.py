"""Reading a `sernn train` run directory (README "Run directory") into the modules of this package."""
import collections
import json
import os

import torch

from .nn import SPIKING_STATE, SpikingNetwork
from .penalty import seRNNPenalty

Run = collections.namedtuple("Run", "config network penalty gamma epoch")
Run.__doc__ = """A run read back: its resolved config (dict), the SpikingNetwork with the weights of
`epoch`, the seRNNPenalty of its regularizer (None for kind none) on its coords, and γ."""

# model.* values a SpikingNetwork computes (the first is the key's default)
_MODEL_KEYS_FIXED = {"kind": ("spiking",), "dale": (False,), "rank": (0,), "impl": ("fast", "reference")}


def _fail(path, message):
    raise ValueError(f"sernn.load_run: {path}: {message}")


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        _fail(path, "no such file (is this a sernn run directory?)")
    except json.JSONDecodeError as e:
        _fail(path, f"not JSON ({e})")


def _read_coords(path):
    try:
        with open(path) as f:
            rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    except FileNotFoundError:
        _fail(path, "no such file")
    except ValueError as e:
        _fail(path, f"not numbers ({e})")
    coords = torch.tensor(rows, dtype=torch.float64)
    if coords.dim() != 2 or coords.shape[1] != 3:
        _fail(path, f"expected N rows of x,y,z, got shape {tuple(coords.shape)}")
    return coords


def _last_epoch(models_dir):
    epochs = [int(f[6:9]) for f in os.listdir(models_dir) if f.startswith("epoch_") and f.endswith(".pt")]
    if not epochs:
        _fail(models_dir, "holds no saved model (models/epoch_EEE.pt)")
    return max(epochs)


def network_from_config(config, inputs, classes):
    """A SpikingNetwork with the model keys of a sernn config (dict), freshly initialised."""
    m = config["model"]
    for key, allowed in _MODEL_KEYS_FIXED.items():
        value = m.get(key, allowed[0])
        if value not in allowed:
            raise NotImplementedError(f"sernn: model.{key} = {value!r} has no Python module (supported: "
                                      f"{', '.join(map(repr, allowed))})")
    return SpikingNetwork(inputs, m["hidden"], classes, slope=m["slope"], threshold=m["threshold"],
                          reset_mechanism=m["reset"], learn_beta=m["learn_beta"], sum_readout=m["loss"] == "sum",
                          tau_mean_ms=m["tau_mean_ms"], dt_ms=m["dt_ms"], beta_min=m["beta_min"],
                          beta_max=m["beta_max"], readout_beta=m["readout_beta"])


def penalty_from_config(config, coords):
    """The config's regularizer as a seRNNPenalty (None for kind none)."""
    r = config["regularizer"]
    if r["kind"] == "none":
        return None
    # `auto` resolves as run/penalties.cpp does for a spiking model: detached C, in-strength.
    grad = "detached" if r.get("comm_grad", "auto") == "auto" else r["comm_grad"]
    strength = "in" if r.get("strength", "auto") == "auto" else r["strength"]
    return seRNNPenalty(coords, kind=r["kind"], grad=grad, strength=strength, comms_factor=r.get("comms_factor", 1.0),
                        alpha=r.get("resolvent_alpha", 0.5))


def load_run(path, epoch=None):
    """Run(config, network, penalty, gamma, epoch) of the run directory `path` at `epoch` (default:
    the last saved model; 0 is the network before training). The network is in train mode on the CPU."""
    config = _read_json(os.path.join(path, "config.json"))
    models_dir = os.path.join(path, "models")
    if not os.path.isdir(models_dir):
        _fail(models_dir, "no such folder (is this a sernn run directory?)")
    epoch = _last_epoch(models_dir) if epoch is None else int(epoch)
    model_path = os.path.join(models_dir, f"epoch_{epoch:03d}.pt")
    if not os.path.isfile(model_path):
        _fail(model_path, f"no saved model for epoch {epoch}")
    # the sernn program's checked reader (core/archive.h), not torch.jit.load: a corrupt or crafted
    # file is an error naming it, read in memory bounded by its size
    try:
        state = dict(zip(SPIKING_STATE, torch.ops.sernn.read_tensors(model_path, list(SPIKING_STATE))))
    except RuntimeError as e:
        raise ValueError(f"sernn.load_run: {str(e).splitlines()[0]}") from None
    if state["input.weight"].dim() != 2 or state["readout.weight"].dim() != 2:
        _fail(model_path, "input.weight and readout.weight must be matrices")
    inputs, classes = state["input.weight"].shape[1], state["readout.weight"].shape[0]
    net = network_from_config(config, inputs, classes)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        _fail(model_path, f"does not hold the network of config.json ({str(e).splitlines()[-1].strip()})")
    coords = _read_coords(os.path.join(path, "coords.csv"))
    if coords.shape[0] != net.recurrent.weight.shape[0]:
        _fail(os.path.join(path, "coords.csv"), f"{coords.shape[0]} rows for {net.recurrent.weight.shape[0]} neurons")
    return Run(config, net, penalty_from_config(config, coords), float(config["regularizer"]["gamma"]), epoch)
