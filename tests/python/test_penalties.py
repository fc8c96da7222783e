"""torch.ops.sernn's communicability, wiring and resolvent penalties and the input projection
against PyTorch's own matrix_exp / linalg.solve / matmul with autograd, and gradcheck (issue 28)."""
import unittest

import torch

import sernn


def weights(n=6, k=None, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shape = (n, n) if k is None else (k, n, n)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 0.5).to(dtype).requires_grad_(True)


def coords(n=6, seed=1):
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 4


def ref_communicability(w, strength):
    """expm(S^-1/2 |W| S^-1/2) with torch.matrix_exp; S from row (in) or column (out) sums."""
    a = w.abs()
    s = a.sum(-1) if strength == "in" else a.sum(-2)
    d = torch.where(s > 0, s.clamp_min(1e-300).rsqrt(), torch.zeros_like(s))
    return torch.matrix_exp(d.unsqueeze(-1) * a * d.unsqueeze(-2))


def ref_penalty(w, kind, distance, strength="in", comms_factor=1.0, detached=False):
    term = w.abs()
    if kind in ("space", "sernn"):
        term = term * distance
    if kind in ("comm", "sernn"):
        # the power of C before its diagonal (>= 1) is zeroed: no pow'(0) enters the graph
        c = ref_communicability(w, strength) ** comms_factor * (1 - torch.eye(w.shape[-1], dtype=w.dtype))
        term = term * (c.detach() if detached else c)
    return term.sum((-2, -1))


class Communicability(unittest.TestCase):
    def test_full_gradient_equals_matrix_exp_autograd_in_float64(self):
        for strength in ("in", "out"):
            w = weights()
            c = torch.ops.sernn.communicability(w, strength)
            ref = ref_communicability(w, strength)
            torch.testing.assert_close(c, ref, rtol=1e-12, atol=1e-12)
            g = torch.randn(c.shape, dtype=c.dtype, generator=torch.Generator().manual_seed(3))
            torch.testing.assert_close(torch.autograd.grad((c * g).sum(), w)[0],
                                       torch.autograd.grad((ref * g).sum(), w)[0], rtol=1e-10, atol=1e-12)

    def test_gradcheck_float64(self):
        self.assertTrue(torch.autograd.gradcheck(lambda w: torch.ops.sernn.communicability(w, "in"), (weights(5),)))
        self.assertTrue(torch.autograd.gradcheck(lambda x: torch.ops.sernn.expm(x), (weights(5, seed=4),)))

    def test_detached_has_no_graph(self):
        c = torch.ops.sernn.communicability_detached(weights(), "out")
        self.assertFalse(c.requires_grad)
        torch.testing.assert_close(c, ref_communicability(weights(), "out").detach(), rtol=1e-12, atol=1e-12)


class Penalties(unittest.TestCase):
    def test_every_kind_and_gradient_mode_equals_the_autograd_reference(self):
        xyz = coords()
        for kind in ("l1", "space", "comm", "sernn"):
            for grad in ("full", "detached", "autograd"):
                for strength in ("in", "out"):
                    with self.subTest(kind=kind, grad=grad, strength=strength):
                        penalty = sernn.seRNNPenalty(xyz, kind=kind, grad=grad, strength=strength,
                                                     comms_factor=0.5)
                        w = weights(seed=7)
                        distance = torch.cdist(xyz, xyz)
                        p = penalty(w)
                        ref = ref_penalty(w, kind, distance, strength, 0.5, detached=grad == "detached")
                        torch.testing.assert_close(p, ref, rtol=1e-10, atol=1e-12)
                        torch.testing.assert_close(torch.autograd.grad(p, w)[0], torch.autograd.grad(ref, w)[0],
                                                   rtol=1e-9, atol=1e-12)

    def test_gradcheck_float64_and_a_batch_gives_one_value_per_network(self):
        d = torch.cdist(coords(), coords())
        f = lambda w: torch.ops.sernn.wiring_penalty(w, "sernn", d, "full", "in", 1.0)  # noqa: E731
        self.assertTrue(torch.autograd.gradcheck(f, (weights(),)))
        batch = weights(k=3, seed=9)
        p = f(batch)
        self.assertEqual(p.shape, (3,))
        for k in range(3):
            torch.testing.assert_close(p[k], f(batch[k]), rtol=1e-12, atol=0)

    def test_resolvent_penalty_equals_the_solve(self):
        w = weights(seed=11)
        a = w.abs()
        a_hat = a / a.sum(-1, keepdim=True)
        r = torch.linalg.solve(torch.eye(6, dtype=w.dtype) - 0.4 * a_hat, torch.eye(6, dtype=w.dtype))
        ref = (a * r * (1 - torch.eye(6, dtype=w.dtype))).sum()
        p = sernn.seRNNPenalty(kind="resolvent", alpha=0.4)(w)
        torch.testing.assert_close(p, ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(torch.autograd.grad(p, w)[0], torch.autograd.grad(ref, w)[0], rtol=1e-10, atol=1e-12)

    def test_a_neuron_without_connections_keeps_the_penalty_finite(self):
        w = weights().detach().clone()
        w[2, :] = 0
        w[:, 2] = 0
        w.requires_grad_(True)
        p = torch.ops.sernn.wiring_penalty(w, "comm", None, "full", "in", 1.0)
        self.assertTrue(torch.isfinite(p))
        self.assertTrue(torch.isfinite(torch.autograd.grad(p, w)[0]).all())

    def test_bad_arguments_are_named(self):
        with self.assertRaisesRegex(RuntimeError, "strength"):
            torch.ops.sernn.communicability(weights(), "sideways")
        with self.assertRaisesRegex(RuntimeError, "grad"):
            torch.ops.sernn.wiring_penalty(weights(), "comm", None, "exact", "in", 1.0)
        with self.assertRaisesRegex(RuntimeError, r"\[N, N\]"):
            torch.ops.sernn.communicability(torch.ones(3, 4), "in")
        with self.assertRaisesRegex(ValueError, "coords"):
            sernn.seRNNPenalty(kind="sernn")
        with self.assertRaisesRegex(ValueError, "kind"):
            sernn.seRNNPenalty(kind="l2")


class InputProjection(unittest.TestCase):
    def test_sparse_and_dense_inputs_give_the_matmul_and_its_gradients(self):
        g = torch.Generator().manual_seed(4)
        for density in (0.02, 0.6):
            x = (torch.rand(10, 3, 30, generator=g, dtype=torch.float64) < density).double()
            w = torch.randn(8, 30, generator=g, dtype=torch.float64, requires_grad=True)
            b = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
            for given in (x, x.to_sparse()):
                with self.subTest(density=density, sparse=given.is_sparse):
                    y = torch.ops.sernn.input_projection(given, w, b, 0.25)
                    ref = x @ w.t() + b
                    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
                    gy = torch.randn(y.shape, generator=g, dtype=y.dtype)
                    for a, r in zip(torch.autograd.grad((y * gy).sum(), (w, b)),
                                    torch.autograd.grad((ref * gy).sum(), (w, b))):
                        torch.testing.assert_close(a, r, rtol=1e-12, atol=1e-12)
            self.assertTrue(torch.autograd.gradcheck(
                lambda w_, b_: torch.ops.sernn.input_projection(x, w_, b_, 0.25), (w, b)))


if __name__ == "__main__":
    unittest.main()
