"""The operators under torch.compile and torch.library.opcheck (issue 35), and the library's torch check.

opcheck runs each operator on real inputs and checks its schema (no undeclared mutation or
aliasing), its autograd registration, its fake kernel against the real results (shapes, dtypes,
strides), and a trace by AOTAutograd with dynamic shapes whose results and gradients must equal
eager ones. The compiled training step of sernn.RLeaky (forward, loss, backward) must give the
eager step's loss and gradients. Torch without torch.library.opcheck (Debian's 1.13) has no
torch.compile for custom operators: those tests are not run there.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import torch

import sernn
from sernn import _library

HAS_OPCHECK = hasattr(torch.library, "opcheck")
OPS = torch.ops.sernn


def network_args(members=False, requires_grad=True, seed=0, k=2, t=6, b=3, n=5, c=4):
    g = torch.Generator().manual_seed(seed)
    lead = (k,) if members else ()

    def r(*shape, scale=1.0, grad=requires_grad):
        return (torch.randn(*shape, generator=g) * scale).requires_grad_(grad)

    drive = r(*lead, t, b, n, scale=1.5)
    weight = r(*lead, n, n, scale=0.5)
    beta = (torch.rand(*lead, n, generator=g) * 0.6 + 0.3).requires_grad_(requires_grad)
    readout_weight = r(*lead, c, n, scale=0.5)
    readout_bias = r(*lead, c, scale=0.1)
    readout_beta = torch.full((*lead, c), 0.9)
    return drive, weight, beta, readout_weight, readout_bias, readout_beta


def square(n=6, seed=1, k=None):
    g = torch.Generator().manual_seed(seed)
    shape = (k, n, n) if k else (n, n)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * 0.3).requires_grad_(True)


def coords_distance(n=6, seed=2):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(n, 3, generator=g, dtype=torch.float64)
    return torch.cdist(xyz, xyz)


def sparse_counts(t=5, b=3, i=12, seed=4):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, b, i, generator=g) < 0.1).float() * torch.randint(1, 3, (t, b, i), generator=g).float()
    return x


def opcheck_cases():
    """(operator, args, kwargs) for every tensor operator, the halves of the autograd nodes included."""
    cases = []
    for reset in ("subtract", "zero"):
        cases.append((OPS.lif_network, network_args(), {"threshold": 1.0, "slope": 25.0, "reset": reset}))
    cases.append((OPS.lif_network_members, network_args(members=True), {"reset": "subtract_decayed"}))
    d, w, b, rw, rb, rbeta = network_args(requires_grad=False)
    cases.append((OPS.lif_network_fwd, (d, w, b, rw, rb, rbeta, 1.0, "subtract", False), {}))
    rm, spikes, counts, mem = OPS.lif_network_fwd(d, w, b, rw, rb, rbeta, 1.0, "subtract", False)
    cases.append((OPS.lif_network_bwd, (torch.randn_like(rm), torch.randn_like(counts), mem, spikes, w, b, rw, rbeta,
                                        1.0, 25.0, "subtract", False), {}))
    x = sparse_counts()
    g = torch.Generator().manual_seed(5)
    weight = torch.randn(7, 12, generator=g).requires_grad_(True)
    bias = torch.randn(7, generator=g).requires_grad_(True)
    for density in (0.25, 0.0):  # the sparse loop and the dense GEMM
        cases.append((OPS.input_projection, (x, weight, bias, density), {}))
    kw = torch.randn(3, 7, 12, generator=g).requires_grad_(True)
    kb = torch.randn(3, 7, generator=g).requires_grad_(True)
    cases.append((OPS.input_projection_members, (x, kw, kb), {}))
    cases.append((OPS.input_projection_backward, (torch.randn(5, 3, 7), x, weight.detach(), bias.detach(), 0.25), {}))
    cases.append((OPS.input_projection_members_backward, (torch.randn(3, 5, 3, 7), x, kw.detach(), kb.detach(), 0.25),
                  {}))
    w = square()
    cases.append((OPS.expm, (w,), {}))
    cases.append((OPS.expm, (square(k=2),), {}))
    cases.append((OPS.expm_backward, (torch.randn(6, 6, dtype=torch.float64), w.detach()), {}))
    for strength in ("in", "out"):
        cases.append((OPS.communicability, (w, strength), {}))
        cases.append((OPS.communicability_detached, (w, strength), {}))
    cases.append((OPS.communicability_backward, (torch.randn(6, 6, dtype=torch.float64), w.detach(), "in"), {}))
    dist = coords_distance()
    for kind, grad in (("l1", "full"), ("space", "full"), ("comm", "full"), ("sernn", "full"), ("sernn", "detached")):
        distance = dist if kind in ("space", "sernn") else None
        cases.append((OPS.wiring_penalty, (w, kind, distance, grad, "in", 1.0), {}))
    cases.append((OPS.wiring_penalty, (square(k=2), "sernn", dist, "full", "out", 1.0), {}))
    cases.append((OPS.wiring_penalty_backward, (torch.tensor(1.0, dtype=torch.float64), w.detach(), "sernn", dist,
                                                "full", "in", 1.0), {}))
    cases.append((OPS.resolvent, (w, 0.5), {}))
    cases.append((OPS.resolvent_penalty, (w, 0.5), {}))
    cases.append((OPS.resolvent_backward, (torch.randn(6, 6, dtype=torch.float64), w.detach(), 0.5), {}))
    cases.append((OPS.resolvent_penalty_backward, (torch.tensor(1.0, dtype=torch.float64), w.detach(), 0.5), {}))
    return cases


@unittest.skipUnless(HAS_OPCHECK, f"torch {torch.__version__} has no torch.library.opcheck")
class OpCheck(unittest.TestCase):
    def test_every_operator(self):
        cases = opcheck_cases()
        covered = {str(op).split(".")[-1] for op, _, _ in cases}
        tensor_ops = {name for name in dir(OPS) if not name.startswith("_")} - {"read_tensors", "pool_threads"}
        registered = {n for n in tensor_ops if isinstance(getattr(OPS, n), torch._ops.OpOverloadPacket)}
        self.assertEqual(registered - covered, set(), "operators without an opcheck case")
        for op, args, kwargs in cases:
            with self.subTest(op=str(op), args=[a if not isinstance(a, torch.Tensor) else tuple(a.shape) for a in args]):
                torch.library.opcheck(op, args, kwargs)


class Step(torch.nn.Module):
    """A feed-forward input into sernn.RLeaky, the loss on the max readout membrane."""

    def __init__(self, n=16, c=4, i=10):
        super().__init__()
        torch.manual_seed(11)
        self.input = torch.nn.Linear(i, n)
        self.layer = sernn.RLeaky(0.9, n, c, learn_beta=True)

    def forward(self, x, y):
        readout_mem, spikes, counts = self.layer(self.input(x))
        logits = readout_mem.max(0).values
        return torch.nn.functional.cross_entropy(logits, y) + 1e-3 * counts.mean()


def train_step(model, x, y):
    model.zero_grad(set_to_none=True)
    loss = model(x, y)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@unittest.skipUnless(HAS_OPCHECK, f"torch {torch.__version__} has no torch.compile for custom operators")
class Compile(unittest.TestCase):
    def test_compiled_training_step_equals_eager(self):
        torch._dynamo.reset()
        g = torch.Generator().manual_seed(3)
        x = torch.randn(20, 8, 10, generator=g) * 2
        y = torch.randint(0, 4, (8,), generator=g)
        eager, compiled = Step(), Step()
        compiled.load_state_dict(eager.state_dict())
        loss_e, grads_e = train_step(eager, x, y)
        # The whole step, backward included, as one Dynamo graph (Tensor.backward is traced with
        # trace_autograd_ops); AOTAutograd compiles the forward and the backward graph.
        from torch._dynamo.backends.common import aot_autograd
        graphs = {"forward": [], "backward": []}

        def keep(kind):
            def compiler(gm, example_inputs):
                graphs[kind].append({str(n.target) for n in gm.graph.nodes if n.op == "call_function"})
                return gm.forward
            return compiler

        backend = aot_autograd(fw_compiler=keep("forward"), bw_compiler=keep("backward"))
        step = torch.compile(train_step, fullgraph=True, backend=backend)
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            loss_c, grads_c = step(compiled, x, y)
        # The step is one graph (its backward traced in, so AOTAutograd compiles no second one)
        # holding the fused layer's two halves as operators: not decomposed, not run outside it.
        traced = set().union(*graphs["forward"], *graphs["backward"])
        self.assertIn("sernn.lif_network_fwd.default", traced)
        self.assertIn("sernn.lif_network_bwd.default", traced)
        torch.testing.assert_close(loss_c, loss_e, rtol=1e-6, atol=1e-6)
        self.assertGreater(sum(int(s.abs().sum() > 0) for s in grads_e), 3, "every parameter has a gradient")
        for ge, gc in zip(grads_e, grads_c):
            torch.testing.assert_close(gc, ge, rtol=1e-5, atol=1e-6)

    def test_inductor_forward_backward(self):
        # The default backend (inductor) compiles the graph around the operators; the fused
        # layer's gradients equal eager ones.
        torch._dynamo.reset()
        d, w, b, rw, rb, rbeta = network_args(seed=7)

        def loss_of(*args):
            rm, spikes, counts = OPS.lif_network(*args, rbeta, 1.0, 25.0, "subtract")
            return (rm.square().mean() + counts.sum() * 1e-2) * 2.0

        expected = torch.autograd.grad(loss_of(d, w, b, rw, rb), (d, w, b, rw, rb))
        try:
            compiled = torch.compile(loss_of, fullgraph=True)
            got = torch.autograd.grad(compiled(d, w, b, rw, rb), (d, w, b, rw, rb))
        except Exception as e:  # inductor needs a C++ compiler; say which part failed
            if "InductorError" in type(e).__name__ or "CppCompileError" in str(e):
                self.fail(f"inductor could not compile on this machine: {e}")
            raise
        for e_, g_ in zip(expected, got):
            torch.testing.assert_close(g_, e_, rtol=1e-5, atol=1e-6)


class TorchCheck(unittest.TestCase):
    def test_mismatch_names_both_versions(self):
        with self.assertRaisesRegex(ImportError, r"built for torch 1\.13\.1.*imports torch 2\.15\.0\+cu130"):
            _library.check_torch("1.13.1", False, "/x/libsernn_ops.so", running="2.15.0+cu130", running_cuda="13.0")
        with self.assertRaisesRegex(ImportError, "built with CUDA.*has no CUDA"):
            _library.check_torch("2.11.0", True, "/x/libsernn_ops.so", running="2.11.0+cpu", running_cuda=None)
        # Same release: a local version or another patch level loads.
        _library.check_torch("2.15.0", True, "/x/libsernn_ops.so", running="2.15.1+cu130", running_cuda="13.0")

    def test_import_refuses_a_library_built_for_another_torch(self):
        # A copy of the installed package whose _build.py names another torch: importing it is an
        # ImportError naming both versions, raised before the library is loaded.
        package = os.path.dirname(sernn.__file__)
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "sernn")
            shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
            with open(os.path.join(copy, "_build.py"), "w", encoding="utf-8") as f:
                f.write('TORCH_VERSION = "1.2.0"\nCUDA = False\n')
            env = dict(os.environ, PYTHONPATH=tmp)
            env.pop("SERNN_OPS_LIBRARY", None)
            r = subprocess.run([sys.executable, "-c", "import sernn"], cwd=tmp, env=env, capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("ImportError", r.stderr)
            self.assertIn("built for torch 1.2.0", r.stderr)
            self.assertIn(f"imports torch {torch.__version__}", r.stderr)

    def test_build_info_names_this_torch(self):
        self.assertIsNotNone(sernn.BUILD)
        self.assertEqual(_library.release(sernn.BUILD["torch"]), _library.release(torch.__version__))


if __name__ == "__main__":
    unittest.main()
