"""sernn.SpikingEnsemble: K networks stacked into one module compute, and train, what each
SpikingNetwork computes alone (issue 28: the member form of the operators from Python)."""
import unittest

import torch

import sernn

K, T, B, I, N, C = 3, 20, 5, 30, 12, 4


def networks():
    torch.manual_seed(3)
    return [sernn.SpikingNetwork(I, N, C, slope=25.0, reset_mechanism="zero") for _ in range(K)]


def batch():
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(T, B, I, generator=g) < 0.1).float() * 3.0  # strong enough to fire
    return x.to_sparse(), torch.randint(0, C, (B,), generator=g)


class Ensemble(unittest.TestCase):
    def test_members_compute_exactly_what_each_network_computes(self):
        nets = networks()
        ensemble = sernn.SpikingEnsemble.from_networks(nets)
        x, _ = batch()
        logits, readout_mem, spikes, counts = ensemble(x)
        self.assertEqual(logits.shape, (K, B, C))
        self.assertGreater(int(spikes.sum()), 0)
        for k, net in enumerate(nets):
            alone = net(x)
            for name, a, b in zip(("logits", "readout_mem", "spikes", "counts"), (logits, readout_mem, spikes, counts),
                                  alone):
                self.assertTrue(torch.equal(a[k], b), f"member {k}: {name}")

    def test_adam_steps_of_the_ensemble_equal_each_network_trained_alone(self):
        nets = networks()
        ensemble = sernn.SpikingEnsemble.from_networks(nets)
        coords = torch.rand(N, 3, generator=torch.Generator().manual_seed(5))
        penalty = sernn.seRNNPenalty(coords, kind="sernn", grad="detached")
        x, y = batch()
        initial = ensemble.recurrent_weight.detach().clone()
        opt = torch.optim.Adam(ensemble.parameters(), lr=0.01)
        opts = [torch.optim.Adam(net.parameters(), lr=0.01) for net in nets]
        for _ in range(3):
            opt.zero_grad()
            logits = ensemble(x)[0]
            loss = sum(torch.nn.functional.cross_entropy(logits[k], y) for k in range(K))
            (loss + 0.01 * penalty(ensemble.recurrent_weight).sum()).backward()
            opt.step()
            ensemble.clip_beta()
            for net, o in zip(nets, opts):
                o.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(x)[0], y) + 0.01 * penalty(net.recurrent.weight)
                loss.backward()
                o.step()
                net.clip_beta()
        self.assertGreater(float((ensemble.recurrent_weight - initial).abs().max()), 1e-2)  # they trained
        for k, net in enumerate(nets):
            member = ensemble.member(k).state_dict()
            for name, value in net.state_dict().items():
                torch.testing.assert_close(member[name], value, rtol=1e-6, atol=1e-7, msg=f"member {k}: {name}")

    def test_networks_of_other_shapes_are_refused(self):
        nets = networks() + [sernn.SpikingNetwork(I, N + 1, C)]
        with self.assertRaisesRegex(ValueError, "share shapes"):
            sernn.SpikingEnsemble.from_networks(nets)
        with self.assertRaisesRegex(RuntimeError, r"weight must be \[K, O, 30\]"):
            torch.ops.sernn.input_projection_members(torch.zeros(2, 2, 30), torch.zeros(3, 4, 29), torch.zeros(3, 4))


if __name__ == "__main__":
    unittest.main()
