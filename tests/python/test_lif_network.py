"""torch.ops.sernn.lif_network and sernn.RLeaky against an independent per-step reference, snnTorch's
RLeaky + Leaky, and torch.autograd.gradcheck (issue 28)."""
import os
import tempfile
import unittest

import torch

import sernn
from helpers import network_inputs, reference_network, snntorch

SLOPE = 25.0


def op(args, reset, slope=SLOPE, threshold=1.0):
    drive, weight, beta, w_out, b_out, beta_out = args
    return torch.ops.sernn.lif_network(drive, weight, beta, w_out, b_out, beta_out, threshold, slope, reset)


def grads(outputs, inputs, seed=1):
    """Gradients of a fixed random linear functional of the readout membrane and the counts."""
    readout_mem, counts = outputs
    g = torch.Generator().manual_seed(seed)
    loss = (readout_mem * torch.randn(readout_mem.shape, generator=g, dtype=readout_mem.dtype)).sum()
    loss = loss + (counts * torch.randn(counts.shape, generator=g, dtype=counts.dtype)).sum()
    return torch.autograd.grad(loss, inputs)


class ReForward(torch.autograd.Function):
    """f(a, b) whose backward runs f's forward and backward afresh (a new graph per backward)."""

    @staticmethod
    def forward(ctx, f, a, b):
        ctx.f = f
        ctx.save_for_backward(a, b)
        with torch.no_grad():
            return f(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = (t.detach().requires_grad_(True) for t in ctx.saved_tensors)
        with torch.enable_grad():
            out = ctx.f(a, b)
        return (None,) + torch.autograd.grad(out, (a, b), g)


class AgainstTheReference(unittest.TestCase):
    def test_every_reset_gives_the_reference_spikes_membranes_and_gradients_in_float64(self):
        for reset in sernn.RESETS:
            with self.subTest(reset=reset):
                args = network_inputs(dtype=torch.float64)
                rm, spikes, counts = op(args, reset)
                ref_rm, ref_spikes, ref_counts = reference_network(*args, 1.0, SLOPE, reset)
                self.assertEqual(spikes.dtype, torch.uint8)
                self.assertTrue(torch.equal(spikes.double(), ref_spikes.detach()))
                self.assertGreater(int(spikes.sum()), 20)  # the case tests firing and resets
                self.assertLess(int(spikes.sum()), spikes.numel())
                torch.testing.assert_close(rm, ref_rm, rtol=1e-12, atol=1e-12)
                torch.testing.assert_close(counts, ref_counts, rtol=0, atol=0)
                got = grads((rm, counts), args[:5])
                want = grads((ref_rm, ref_counts), args[:5])
                for name, a, b in zip(("drive", "weight", "beta", "readout_weight", "readout_bias"), got, want):
                    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=f"{reset}: d/d{name}")

    def test_gradcheck_in_float64_where_the_network_is_differentiable(self):
        # The readout is linear in its weight and bias and the spikes do not depend on them: there
        # the op's gradient is the exact derivative, which finite differences see (the surrogate
        # parts differ from finite differences by design; the reference test above covers them).
        # The op's backward reuses its membrane buffer (one backward per graph), and gradcheck
        # backpropagates one graph many times: ReForward runs the op afresh for each backward.
        drive, weight, beta, w_out, b_out, beta_out = network_inputs(dtype=torch.float64, requires_grad=False)
        for reset in sernn.RESETS:
            def f(wo, bo):
                return torch.ops.sernn.lif_network(drive, weight, beta, wo, bo, beta_out, 1.0, SLOPE, reset)[0]
            wo, bo = w_out.clone().requires_grad_(True), b_out.clone().requires_grad_(True)
            self.assertTrue(torch.autograd.gradcheck(lambda a, b: ReForward.apply(f, a, b), (wo, bo)))

    def test_a_graph_is_backpropagated_once(self):
        args = network_inputs(dtype=torch.float64)
        rm = op(args, "subtract")[0]
        rm.sum().backward(retain_graph=True)
        with self.assertRaisesRegex(RuntimeError, "backward called twice"):
            rm.sum().backward()

    def test_members_compute_what_each_network_computes_alone(self):
        members = [network_inputs(dtype=torch.float64, seed=s) for s in range(3)]
        stacked = [torch.stack([m[i] for m in members]).detach().requires_grad_(i < 5) for i in range(6)]
        rm, spikes, counts = torch.ops.sernn.lif_network_members(*stacked, 1.0, SLOPE, "subtract")
        g = torch.Generator().manual_seed(2)
        r_mem = torch.randn(rm.shape, generator=g, dtype=rm.dtype)
        r_counts = torch.randn(counts.shape, generator=g, dtype=counts.dtype)
        got = torch.autograd.grad((rm * r_mem).sum() + (counts * r_counts).sum(), stacked[:5])
        for k, m in enumerate(members):
            rm_k, spikes_k, counts_k = op(m, "subtract")
            self.assertTrue(torch.equal(spikes[k], spikes_k))
            torch.testing.assert_close(rm[k], rm_k, rtol=0, atol=0)
            want = torch.autograd.grad((rm_k * r_mem[k]).sum() + (counts_k * r_counts[k]).sum(), m[:5])
            for a, b in zip(got, want):
                torch.testing.assert_close(a[k], b, rtol=1e-12, atol=1e-12)

    def test_results_do_not_depend_on_torchs_thread_count(self):
        # The fused loops run on sernn's pool, which follows torch.set_num_threads; its pieces are
        # fixed blocks of rows, so any count gives the same bits (B = 70: three blocks of 32 rows).
        before = torch.get_num_threads()
        outs = []
        try:
            for threads in (1, 3):
                torch.set_num_threads(threads)
                args = network_inputs(T=15, B=70, N=40, C=5, seed=8)
                rm, spikes, counts = op(args, "subtract")
                self.assertEqual(torch.ops.sernn.pool_threads(), threads)
                outs.append([rm, spikes, counts] + list(grads((rm, counts), args[:5])))
        finally:
            torch.set_num_threads(before)
        for a, b in zip(*outs):
            self.assertTrue(torch.equal(a, b))

    def test_torchscript_calls_the_operator(self):
        @torch.jit.script
        def scripted(drive: torch.Tensor, weight: torch.Tensor, beta: torch.Tensor, w_out: torch.Tensor,
                     b_out: torch.Tensor, beta_out: torch.Tensor):
            return torch.ops.sernn.lif_network(drive, weight, beta, w_out, b_out, beta_out, 1.0, 25.0, "zero")[0]

        args = network_inputs(requires_grad=False)
        torch.testing.assert_close(scripted(*args), op(args, "zero")[0], rtol=0, atol=0)

    def test_the_network_module_scripts_saves_and_loads(self):
        net = sernn.SpikingNetwork(20, 8, 3, slope=25.0, reset_mechanism="zero")
        x = (torch.rand(6, 2, 20, generator=torch.Generator().manual_seed(1)) < 0.3).float()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "net.pt")
            torch.jit.save(torch.jit.script(net), path)
            loaded = torch.jit.load(path)
        for a, b in zip(net(x), loaded(x)):
            self.assertTrue(torch.equal(a, b))

    @unittest.skipUnless(torch.cuda.is_available(), "no CUDA device")
    def test_cuda_kernel_agrees_with_the_cpu_loop(self):
        for reset in sernn.RESETS:
            args = network_inputs(dtype=torch.float64)
            cuda_args = [a.detach().cuda().requires_grad_(a.requires_grad) for a in args]
            rm, spikes, counts = op(args, reset)
            rm_c, spikes_c, counts_c = op(cuda_args, reset)
            self.assertTrue(torch.equal(spikes, spikes_c.cpu()))
            torch.testing.assert_close(rm_c.cpu(), rm, rtol=1e-9, atol=1e-9)
            for a, b in zip(grads((rm_c.cpu(), counts_c.cpu()), cuda_args[:5]), grads((rm, counts), args[:5])):
                torch.testing.assert_close(a.cpu(), b, rtol=1e-8, atol=1e-8)


class Errors(unittest.TestCase):
    def test_a_bad_reset_name_and_a_bad_shape_are_named(self):
        args = network_inputs(requires_grad=False)
        with self.assertRaisesRegex(RuntimeError, "reset"):
            op(args, "soft")
        bad = list(args)
        bad[2] = torch.ones(5)
        with self.assertRaisesRegex(RuntimeError, r"beta must be \[7\]"):
            op(bad, "subtract")
        bad = list(args)
        bad[3] = torch.ones(7)
        with self.assertRaisesRegex(RuntimeError, r"readout_weight must be \[C, N\]"):
            op(bad, "subtract")

    def test_snntorch_options_without_a_fused_equivalent_are_refused(self):
        with self.assertRaisesRegex(NotImplementedError, "all_to_all"):
            sernn.RLeaky(0.9, 4, 2, all_to_all=False)
        with self.assertRaisesRegex(NotImplementedError, "inhibition"):
            sernn.RLeaky(0.9, 4, 2, inhibition=True)
        with self.assertRaisesRegex(NotImplementedError, "fast-sigmoid"):
            sernn.RLeaky(0.9, 4, 2, spike_grad=lambda x: x)
        with self.assertRaisesRegex(ValueError, "reset_mechanism"):
            sernn.RLeaky(0.9, 4, 2, reset_mechanism="soft")


@unittest.skipIf(snntorch() is None, "no snnTorch checkout (SNNTORCH_DIR or .peers/snntorch)")
class AgainstSnnTorch(unittest.TestCase):
    """snnTorch 0.9's RLeaky + Linear + Leaky stepped in Python, the fused layer in one call."""

    def snntorch_model(self, reset, n=9, c=5, seed=3, reset_delay=True):
        snn = snntorch()
        torch.manual_seed(seed)
        rleaky = snn.RLeaky(beta=0.75 + 0.2 * torch.rand(n), linear_features=n, learn_beta=True,
                            reset_mechanism=reset, spike_grad=snn.surrogate.fast_sigmoid(slope=SLOPE),
                            reset_delay=reset_delay)
        with torch.no_grad():
            rleaky.recurrent.weight.mul_(3.0)
        fc_out = torch.nn.Linear(n, c)
        leaky = snn.Leaky(beta=torch.full((c,), 0.9), reset_mechanism="none")
        return rleaky, fc_out, leaky

    @staticmethod
    def run_snntorch(rleaky, fc_out, leaky, cur):
        spk, mem = rleaky.init_rleaky()
        mem_out = leaky.init_leaky()
        spikes, mems = [], []
        for t in range(cur.shape[0]):
            spk, mem = rleaky(cur[t], spk, mem)
            _, mem_out = leaky(fc_out(spk), mem_out)
            spikes.append(spk)
            mems.append(mem_out)
        return torch.stack(mems), torch.stack(spikes)

    def test_spikes_membranes_and_gradients_equal_snntorch_in_float32(self):
        # ("zero", False): snnTorch's reset_delay=False, sernn's zero_immediate. Its forward only:
        # snnTorch's immediate reset multiplies by the spike with its surrogate gradient, where
        # sernn detaches every reset (as snnTorch's delayed one).
        for reset, delay in (("subtract", True), ("zero", True), ("none", True), ("zero", False)):
            with self.subTest(reset=reset, reset_delay=delay):
                rleaky, fc_out, leaky = self.snntorch_model(reset, reset_delay=delay)
                fused = sernn.RLeaky.from_snntorch(rleaky, fc_out, leaky)
                cur = (torch.rand(30, 4, 9, generator=torch.Generator().manual_seed(5)) * 1.5).requires_grad_(True)
                labels = torch.tensor([0, 1, 2, 3])
                ref_mem, ref_spk = self.run_snntorch(rleaky, fc_out, leaky, cur)
                rm, spikes, _ = fused(cur)
                self.assertGreater(int(spikes.sum()), 50)
                self.assertTrue(torch.equal(spikes.float(), ref_spk.detach()))
                torch.testing.assert_close(rm, ref_mem, rtol=1e-5, atol=1e-5)
                if not delay:
                    continue
                loss_ref = torch.nn.functional.cross_entropy(ref_mem.max(0).values, labels)
                loss = torch.nn.functional.cross_entropy(rm.max(0).values, labels)
                ref_params = [cur, rleaky.recurrent.weight, rleaky.recurrent.bias, rleaky.beta, fc_out.weight,
                              fc_out.bias]
                params = [cur, fused.recurrent.weight, fused.recurrent.bias, fused.beta, fused.readout.weight,
                          fused.readout.bias]
                names = ("input current", "recurrent.weight", "recurrent.bias", "beta", "readout.weight",
                         "readout.bias")
                for name, a, b in zip(names, torch.autograd.grad(loss, params),
                                      torch.autograd.grad(loss_ref, ref_params)):
                    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=f"{reset}: d/d{name}")

    def test_snntorch_default_surrogate_is_refused_by_from_snntorch(self):
        snn = snntorch()
        rleaky = snn.RLeaky(beta=0.9, linear_features=3)
        with self.assertRaisesRegex(NotImplementedError, "fast-sigmoid"):
            sernn.RLeaky.from_snntorch(rleaky, torch.nn.Linear(3, 2), snn.Leaky(beta=0.9, reset_mechanism="none"))


if __name__ == "__main__":
    unittest.main()
