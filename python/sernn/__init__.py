"""sernn from Python: the fused spiking layer and the seRNN penalties of the sernn engine as PyTorch
operators (torch.ops.sernn.*, registered by libsernn_ops.so on import) and modules on top of them.

    import sernn
    net = sernn.SpikingNetwork(700, 100, 20, slope=25.0)       # Linear -> RLeaky -> Linear -> Leaky
    penalty = sernn.seRNNPenalty(coords, kind="sernn", grad="detached")
    logits, readout_mem, spikes, counts = net(x)               # x [T, B, 700], dense or sparse
    loss = F.cross_entropy(logits, y) + gamma * penalty(net.recurrent.weight)

README "sernn from Python" says how to build and install it.
"""
from . import _library

LIBRARY = _library.load()
BUILD = _library._build_info(LIBRARY)  # {"torch": the torch it was built against, "cuda": with CUDA kernels}

from .nn import RESETS, RLeaky, SpikingEnsemble, SpikingNetwork, surrogate_slope  # noqa: E402
from .nir_graph import from_nir, to_nir  # noqa: E402
from .penalty import seRNNPenalty  # noqa: E402
from .run import Run, load_run, network_from_config, penalty_from_config  # noqa: E402

__all__ = ["BUILD", "LIBRARY", "RESETS", "RLeaky", "Run", "SpikingEnsemble", "SpikingNetwork", "from_nir", "load_run",
           "network_from_config", "penalty_from_config", "seRNNPenalty", "surrogate_slope", "to_nir"]
