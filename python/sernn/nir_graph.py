"""sernn's spiking modules as NIR graphs and back (the `nir` package, imported when called):
the graph `sernn export --format nir` writes (docs/nir.md), so files and graphs from either side
read alike.

    graph = sernn.to_nir(net)             # SpikingNetwork: Input -> Affine -> rlif -> Affine -> LI -> Output
    nir.write("model.nir", graph)         # the file `sernn data import-nir` reads
    net = sernn.from_nir(nir.read("model.nir"))

Time: sernn's step is an Euler step of DT = 1e-4 s (snnTorch's convention): a LIF's tau = DT / (1 - beta),
r = tau / DT; a LI's the same with the readout's beta. The reset rule and the surrogate slope have
no NIR form: they travel in the graph's metadata ("reset", "slope"), which from_nir reads back
(a graph without them resets to zero, NIR's rule).
"""
import torch

from .nn import RESETS, RLeaky, SpikingNetwork

DT = 1e-4
np = None  # numpy, imported with nir when a function is called (`import sernn` needs neither)


def _nir():
    global np
    try:
        import nir
        import numpy
    except ImportError as e:
        raise ImportError("sernn.to_nir / from_nir need the nir package (pip install nir)") from e
    np = numpy
    return nir


def _np(t):
    return np.asarray(t.detach().cpu().tolist(), dtype=np.float32 if t.dtype == torch.float32 else np.float64)


def _tau(beta):
    return DT / (1.0 - np.clip(np.asarray(beta.detach().cpu().double().tolist()), 0.0, 1.0))


def to_nir(module, readout="li"):
    """The NIR graph of a SpikingNetwork (Input [inputs] -> fc_in -> rlif -> fc_out -> li -> Output
    [C]) or of an RLeaky alone (Input [N] -> rlif -> fc_out -> li -> Output [C]; its input is the
    current). The biases the forward folds (input and recurrent) go into fc_in (for an RLeaky: the
    recurrent Affine keeps its own). `readout="lif"` writes the leaky readout as a LIF that never
    fires (v_threshold = inf), the node snnTorch's import_from_nir reads (it has none for LI). Nodes
    are in the order they compute, which snnTorch's importer needs."""
    nir = _nir()
    if not isinstance(module, RLeaky):
        raise TypeError(f"sernn.to_nir: a SpikingNetwork or an RLeaky, got {type(module).__name__}")
    if readout not in ("li", "lif"):
        raise ValueError(f"sernn.to_nir: readout must be 'li' or 'lif', got {readout!r}")
    n = module.recurrent.weight.shape[0]
    c = module.readout.weight.shape[0]
    tau = _tau(module.beta)
    zeros = np.zeros(n)
    network = isinstance(module, SpikingNetwork)
    rlif = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "lif": nir.LIF(tau=tau, r=tau / DT, v_leak=zeros, v_threshold=np.full(n, module.threshold), v_reset=zeros),
            "w_rec": nir.Affine(weight=_np(module.recurrent.weight),
                                bias=np.zeros(n, np.float32) if network else _np(module.recurrent.bias)),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    readout_tau = _tau(module.readout_beta)
    if readout == "li":
        li = nir.LI(tau=readout_tau, r=readout_tau / DT, v_leak=np.zeros(c))
    else:
        li = nir.LIF(tau=readout_tau, r=readout_tau / DT, v_leak=np.zeros(c), v_threshold=np.full(c, np.inf),
                     v_reset=np.zeros(c))
    metadata = {"dt": DT, "reset": module.reset_mechanism, "slope": module.slope, "producer": "sernn (Python)"}
    if network:
        nodes = {"input": nir.Input(input_type={"input": np.array([module.input.weight.shape[1]])}),
                 "fc_in": nir.Affine(weight=_np(module.input.weight),
                                     bias=_np(module.input.bias + module.recurrent.bias))}
        edges = [("input", "fc_in"), ("fc_in", "rlif")]
        metadata["input_bias"] = _np(module.input.bias)
        metadata["recurrent_bias"] = _np(module.recurrent.bias)
    else:
        nodes = {"input": nir.Input(input_type={"input": np.array([n])})}
        edges = [("input", "rlif")]
    nodes.update({"rlif": rlif, "fc_out": nir.Affine(weight=_np(module.readout.weight), bias=_np(module.readout.bias)),
                  "li": li, "output": nir.Output(output_type={"output": np.array([c])})})
    edges += [("rlif", "fc_out"), ("fc_out", "li"), ("li", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _recurrent(nir, graph):
    """(lif, w_rec) of the graph's recurrent layer: a nested NIRGraph or written flat."""
    for g in [graph] + [n for n in graph.nodes.values() if isinstance(n, nir.NIRGraph)]:
        for a, b in g.edges:
            if isinstance(g.nodes[a], nir.LIF) and isinstance(g.nodes[b], (nir.Affine, nir.Linear)) and \
                    (b, a) in g.edges:
                return g.nodes[a], g.nodes[b]
    raise ValueError("sernn.from_nir: no recurrent LIF layer (a LIF and an Affine connected both ways)")


def from_nir(graph):
    """A SpikingNetwork computing `graph` (the shape to_nir and `sernn export --format nir` write,
    or snnTorch's Linear -> RLeaky -> Linear -> Leaky: its readout LIF is read as a leaky
    integrator). Checks as `sernn data import-nir` does: r = tau / dt, v_leak = 0, v_reset = 0, one
    threshold; ValueError naming the node otherwise."""
    nir = _nir()
    meta = graph.metadata or {}
    dt = float(meta.get("dt", DT))
    lif, w_rec = _recurrent(nir, graph)
    dense = [(k, v) for k, v in graph.nodes.items() if isinstance(v, (nir.Affine, nir.Linear)) and v is not w_rec]
    leaky = [(k, v) for k, v in graph.nodes.items() if isinstance(v, (nir.LI, nir.LIF)) and v is not lif]
    n = np.asarray(w_rec.weight).shape[0]
    fc_in = [v for _, v in dense if np.asarray(v.weight).shape[0] == n and np.asarray(v.weight).shape[1] != n] or \
        [v for k, v in dense if k == "fc_in"]
    fc_out = [v for _, v in dense if np.asarray(v.weight).shape[1] == n and v not in fc_in]
    if len(fc_in) != 1 or len(fc_out) != 1 or len(leaky) != 1:
        raise ValueError("sernn.from_nir: expected Input -> Affine -> recurrent LIF layer -> Affine -> LI -> Output")
    fc_in, fc_out, (readout_name, readout) = fc_in[0], fc_out[0], leaky[0]

    def check(name, node, count, spiking):
        tau = np.broadcast_to(np.asarray(node.tau, np.float64).ravel(), (count,))
        if not np.allclose(np.asarray(node.r).ravel(), tau / dt, rtol=1e-6, atol=0):
            raise ValueError(f"sernn.from_nir: node '{name}': r must be tau / dt (dt = {dt})")
        if np.any(np.asarray(node.v_leak) != 0):
            raise ValueError(f"sernn.from_nir: node '{name}': v_leak must be 0")
        if spiking:
            thr = np.asarray(node.v_threshold).ravel()
            if np.unique(thr).size != 1:
                raise ValueError(f"sernn.from_nir: node '{name}': v_threshold differs between neurons")
            if np.any(np.asarray(node.v_reset) != 0):
                raise ValueError(f"sernn.from_nir: node '{name}': v_reset must be 0")
        return torch.tensor((1.0 - dt / tau).tolist(), dtype=torch.float32)

    beta = check("lif", lif, n, True)
    readout_beta = check(readout_name, readout, np.asarray(fc_out.weight).shape[0], False)
    reset = meta.get("reset", "zero")
    if reset not in RESETS:
        raise ValueError(f"sernn.from_nir: metadata reset '{reset}' is not one of {', '.join(RESETS)}")
    w_in = torch.tensor(np.asarray(fc_in.weight, np.float32))
    net = SpikingNetwork(w_in.shape[1], n, np.asarray(fc_out.weight).shape[0], beta=beta,
                         threshold=float(np.asarray(lif.v_threshold).ravel()[0]), reset_mechanism=reset,
                         slope=float(meta.get("slope", 25.0)), readout_beta=readout_beta)

    def bias(node):
        return torch.tensor(np.asarray(node.bias, np.float32)) if isinstance(node, nir.Affine) else \
            torch.zeros(np.asarray(node.weight).shape[0])
    with torch.no_grad():
        net.input.weight.copy_(w_in)
        folded = bias(fc_in) + bias(w_rec)
        if "input_bias" in meta and "recurrent_bias" in meta and torch.equal(
                torch.tensor(np.asarray(meta["input_bias"], np.float32)) +
                torch.tensor(np.asarray(meta["recurrent_bias"], np.float32)), folded):
            net.input.bias.copy_(torch.tensor(np.asarray(meta["input_bias"], np.float32)))
            net.recurrent.bias.copy_(torch.tensor(np.asarray(meta["recurrent_bias"], np.float32)))
        else:
            net.input.bias.copy_(folded)
            net.recurrent.bias.zero_()
        net.recurrent.weight.copy_(torch.tensor(np.asarray(w_rec.weight, np.float32)))
        net.readout.weight.copy_(torch.tensor(np.asarray(fc_out.weight, np.float32)))
        net.readout.bias.copy_(bias(fc_out))
    return net
