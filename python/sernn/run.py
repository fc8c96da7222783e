"""Reading a `sernn train` run directory (README "Run directory") into the modules of this package."""
import collections
import json
import os

import torch

from .nn import SpikingNetwork
from .penalty import seRNNPenalty

Run = collections.namedtuple("Run", "config network penalty gamma epoch")
Run.__doc__ = """A run read back: its resolved config (dict), the SpikingNetwork with the weights of
`epoch`, the seRNNPenalty of its regularizer (None for kind none) on its coords, and γ."""

_MODEL_KEYS_FIXED = {"kind": "spiking", "dale": False, "rank": 0, "impl": ("fast", "reference")}


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
        ok = m.get(key, allowed if not isinstance(allowed, tuple) else allowed[0])
        if ok != allowed and not (isinstance(allowed, tuple) and ok in allowed):
            raise NotImplementedError(f"sernn: model.{key} = {ok!r} has no Python module (supported: {allowed!r})")
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
    saved = torch.jit.load(model_path, map_location="cpu")
    state = dict(saved.named_parameters())
    state.update(dict(saved.named_buffers()))
    if "input.weight" not in state or "readout.weight" not in state:
        _fail(model_path, "not a spiking network's model (no input.weight / readout.weight)")
    inputs, classes = state["input.weight"].shape[1], state["readout.weight"].shape[0]
    net = network_from_config(config, inputs, classes)
    missing = set(net.state_dict()) - set(state)
    if missing:
        _fail(model_path, f"lacks {', '.join(sorted(missing))}")
    net.load_state_dict({k: state[k].detach().clone() for k in net.state_dict()})
    coords = _read_coords(os.path.join(path, "coords.csv"))
    if coords.shape[0] != net.recurrent.weight.shape[0]:
        _fail(os.path.join(path, "coords.csv"), f"{coords.shape[0]} rows for {net.recurrent.weight.shape[0]} neurons")
    return Run(config, net, penalty_from_config(config, coords), float(config["regularizer"]["gamma"]), epoch)
