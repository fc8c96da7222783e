"""`sernn export --format nir` read by the package index's `nir` (issue 37): every node's parameters
equal the run's, and an independent simulation of the graph's semantics (a numpy loop over its
nodes: Euler steps of dt on τ dv/dt = (v_leak - v) + r I, the spike v > v_threshold, the reset to
v_reset at the next step, as snnTorch reads NIR) gives the run's spikes and readout on a batch.
Needs numpy, h5py and nir (python/requirements-ci.txt; scripts/peer-snntorch.sh puts them beside
snnTorch for Debian's python); skipped without them unless SERNN_REQUIRE_NIR=1."""
import json
import os
import subprocess
import tempfile
import unittest

import torch

import sernn
from helpers import snntorch

snntorch()  # the peers' folder (snnTorch, and nir and h5py beside it) onto sys.path
try:
    import numpy as np
    import nir
except ImportError:
    if os.environ.get("SERNN_REQUIRE_NIR") == "1":
        raise
    np = nir = None

BINARY = os.environ.get("SERNN_BINARY", "sernn")


def snntorch_nir(test, module, name):
    """snnTorch's NIR function `name` from snntorch.`module` (it needs nirtorch); skips `test`
    without it unless SERNN_REQUIRE_NIR=1."""
    try:
        return getattr(__import__(f"snntorch.{module}", fromlist=[name]), name)
    except ImportError:
        if os.environ.get("SERNN_REQUIRE_NIR") == "1":
            raise
        test.skipTest(f"snnTorch's NIR {module} (snnTorch, nirtorch) not installed")


def train_small_run(tmp, run, reset, seed):
    """A run of configs/shd_sernn.toml at 27 neurons and 30 bins, trained for one epoch on 64
    synthetic SHD samples (data seed `seed`) written into tmp/shd, with `reset`."""
    data = os.path.join(tmp, "shd")
    subprocess.run([BINARY, "data", "synth-shd", "--out", data, "--train", "64", "--test", "16", "--seed", str(seed)],
                   check=True, capture_output=True)
    config = os.path.join(SOURCE, "configs", "shd_sernn.toml")
    subprocess.run([BINARY, "train", "--config", config, "--out", run, "--quiet", "--set", f"task.data_dir={data}",
                    "--set", "task.bins=30", "--set", "model.hidden=27", "--set", "model.grid=3,3,3",
                    "--set", f"model.reset={reset}", "--set", "train.epochs=1", "--set", "train.batch_size=32"],
                   check=True, capture_output=True)


def simulate_nir(graph, x):
    """The graph's spikes [T, B, N] and readout [T, B, C] on inputs x [T, B, I] (float64 numpy),
    from its nodes alone: fc_in, the recurrent subgraph rlif (lif, w_rec), fc_out and li."""
    nodes, sub = graph.nodes, graph.nodes["rlif"].nodes
    dt = float(graph.metadata["dt"])
    fc_in, lif, w_rec, fc_out, li = nodes["fc_in"], sub["lif"], sub["w_rec"], nodes["fc_out"], nodes["li"]
    T, B, _ = x.shape
    N, C = lif.tau.shape[0], li.tau.shape[0]
    v, s, u = np.zeros((B, N)), np.zeros((B, N)), np.zeros((B, C))
    spikes, readout = [], []
    for t in range(T):
        current = x[t] @ fc_in.weight.T + fc_in.bias + s @ w_rec.weight.T + w_rec.bias
        fired = s > 0
        v = v + dt / lif.tau * (lif.v_leak - v + lif.r * current)  # Euler: β v + I
        v = np.where(fired, lif.v_reset, v)  # the reset to v_reset, at the step after the spike
        s = (v > lif.v_threshold).astype(np.float64)
        u = u + dt / li.tau * (li.v_leak - u + li.r * (s @ fc_out.weight.T + fc_out.bias))
        spikes.append(s)
        readout.append(u)
    return np.stack(spikes), np.stack(readout)


@unittest.skipIf(nir is None, "nir, h5py or numpy not installed")
class NirExport(unittest.TestCase):
    def test_the_nir_package_reads_the_trained_network_and_its_semantics_are_the_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            run, path = os.path.join(tmp, "run"), os.path.join(tmp, "model.nir")
            # NIR's LIF resets to v_reset: the run resets to zero (sernn's default, subtraction, has
            # no NIR form and travels in the metadata).
            train_small_run(tmp, run, "zero", 3)
            out = subprocess.run([BINARY, "export", run, "--format", "nir", "--out", path], check=True,
                                 capture_output=True, text=True).stdout
            self.assertIn("verified in float64", out)

            graph = nir.read(path)  # with nir's own type check
            self.assertEqual(set(graph.nodes), {"input", "fc_in", "rlif", "fc_out", "li", "output"})
            self.assertIsInstance(graph.nodes["rlif"], nir.NIRGraph)
            self.assertIn(("w_rec", "lif"), graph.nodes["rlif"].edges)
            trained = sernn.load_run(run)
            net = trained.network
            sub = graph.nodes["rlif"].nodes
            dt = float(graph.metadata["dt"])
            np.testing.assert_array_equal(graph.nodes["fc_in"].weight, net.input.weight.detach().numpy())
            np.testing.assert_array_equal(graph.nodes["fc_in"].bias,
                                          (net.input.bias + net.recurrent.bias).detach().numpy())
            np.testing.assert_array_equal(sub["w_rec"].weight, net.recurrent.weight.detach().numpy())
            np.testing.assert_array_equal(graph.nodes["fc_out"].weight, net.readout.weight.detach().numpy())
            np.testing.assert_array_equal(graph.nodes["fc_out"].bias, net.readout.bias.detach().numpy())
            beta = net.beta.detach().double().clamp(0, 1).numpy()
            np.testing.assert_allclose(sub["lif"].tau, dt / (1 - beta), rtol=1e-12)
            np.testing.assert_allclose(sub["lif"].r, sub["lif"].tau / dt, rtol=1e-12)
            np.testing.assert_array_equal(sub["lif"].v_threshold, np.full(27, 1.0))
            np.testing.assert_allclose(graph.nodes["li"].tau, dt / (1 - net.readout_beta.double().numpy()), rtol=1e-12)
            self.assertEqual(graph.metadata["reset"], "zero")
            self.assertEqual(np.asarray(graph.metadata["coords"]).shape, (27, 3))
            self.assertEqual(json.loads(graph.metadata["config"])["model"]["hidden"], 27)

            # The graph's semantics against the run's forward, in float64.
            torch.manual_seed(4)
            x = (torch.rand(40, 3, 700) < 0.1).double()
            with torch.no_grad():
                _, readout_mem, spikes, _ = net.double()(x)
            s_ref, u_ref = simulate_nir(graph, x.numpy())
            self.assertGreater(s_ref.sum(), 0)
            np.testing.assert_array_equal(s_ref, spikes.numpy())
            np.testing.assert_allclose(u_ref, readout_mem.numpy(), atol=1e-9)

            # From Python: sernn.from_nir gives the run's network bit for bit, sernn.to_nir its graph,
            # which `sernn data import-nir` reads as the run's own.
            net = sernn.load_run(run).network
            back = sernn.from_nir(graph)
            for name, value in net.state_dict().items():
                self.assertTrue(torch.equal(back.state_dict()[name], value), name)
            again = os.path.join(tmp, "again.nir")
            nir.write(again, sernn.to_nir(back))
            coords = os.path.join(tmp, "coords.csv")
            np.savetxt(coords, np.asarray(graph.metadata["coords"]), delimiter=",")
            subprocess.run([BINARY, "data", "import-nir", again, "--out", os.path.join(tmp, "again"), "--coords", coords],
                           check=True, capture_output=True)
            imported = sernn.load_run(os.path.join(tmp, "again")).network
            for name, value in net.state_dict().items():
                self.assertTrue(torch.equal(imported.state_dict()[name], value), name)


@unittest.skipIf(nir is None, "nir, h5py or numpy not installed")
class NirImport(unittest.TestCase):
    def test_an_rleaky_written_by_snntorch_imports_computes_its_forward_and_trains(self):
        snn = snntorch()
        export_to_nir = snntorch_nir(self, "export_nir", "export_to_nir")
        from snntorch import utils as snn_utils
        torch.manual_seed(8)
        N = 27
        # Per-neuron β and thresholds (snnTorch exports scalars with a shape NIR's type check
        # refuses); reset to zero, NIR's; a readout that never fires: a leaky integrator.
        net = torch.nn.Sequential(
            torch.nn.Linear(700, N),
            snn.RLeaky(beta=torch.rand(N) * 0.2 + 0.75, threshold=torch.ones(N), linear_features=N, init_hidden=True,
                       reset_mechanism="zero"),
            torch.nn.Linear(N, 20),
            snn.Leaky(beta=torch.full((20,), 0.9), threshold=torch.full((20,), 1e9), init_hidden=True, output=True,
                      reset_mechanism="zero"))
        with torch.no_grad():
            net[0].weight.mul_(6.0)
        with tempfile.TemporaryDirectory() as tmp:
            path, run, data = os.path.join(tmp, "rleaky.nir"), os.path.join(tmp, "run"), os.path.join(tmp, "shd")
            nir.write(path, export_to_nir(net, torch.zeros(700)))
            coords = os.path.join(tmp, "coords.csv")
            np.savetxt(coords, np.random.default_rng(0).random((N, 3)), delimiter=",")
            subprocess.run([BINARY, "data", "import-nir", path, "--out", run, "--coords", coords], check=True,
                           capture_output=True)
            imported = sernn.load_run(run)
            self.assertEqual(imported.epoch, 0)
            self.assertEqual(imported.config["model"]["reset"], "zero")

            # snnTorch's own forward, step by step, against the imported network.
            torch.manual_seed(9)
            x = (torch.rand(40, 3, 700) < 0.1).float()
            snn_utils.reset(net)
            spikes, readout = [], []
            with torch.no_grad():
                for t in range(x.shape[0]):
                    _, mem = net(x[t])
                    spikes.append(net[1].spk.clone())
                    readout.append(mem.clone())
                _, readout_mem, sernn_spikes, _ = imported.network(x)
            self.assertGreater(sernn_spikes.sum().item(), 0)
            torch.testing.assert_close(sernn_spikes.float(), torch.stack(spikes), rtol=0, atol=0)
            torch.testing.assert_close(readout_mem, torch.stack(readout), rtol=1e-5, atol=1e-5)

            # ... and trains on: one epoch from the imported weights.
            subprocess.run([BINARY, "data", "synth-shd", "--out", data, "--train", "64", "--test", "16", "--seed", "2"],
                           check=True, capture_output=True)
            subprocess.run([BINARY, "train", "--resume", run, "--quiet", "--set", f"task.data_dir={data}", "--set",
                            "task.bins=30", "--set", "train.epochs=1", "--set", "train.batch_size=32"], check=True,
                           capture_output=True)
            trained = sernn.load_run(run)
            self.assertEqual(trained.epoch, 1)
            self.assertFalse(torch.equal(trained.network.recurrent.weight, imported.network.recurrent.weight))


@unittest.skipIf(nir is None, "nir, h5py or numpy not installed")
class SnnTorchImport(unittest.TestCase):
    def test_snntorch_import_from_nir_rebuilds_a_trained_run_and_computes_its_spikes_and_readout(self):
        """`sernn export --format nir --nir-readout lif` of a run trained with reset zero_immediate
        (NIR's LIF: zero at the spike, the next step integrates), read by nir.read and rebuilt by
        snnTorch's import_from_nir (snnTorch 1.0.0, nirtorch 2.6: it rebuilds every LIF as a
        reset-to-zero neuron without delay and has no node for LI, hence the readout as a LIF that
        never fires)."""
        snn = snntorch()
        import_from_nir = snntorch_nir(self, "import_nir", "import_from_nir")
        with tempfile.TemporaryDirectory() as tmp:
            run, path = os.path.join(tmp, "run"), os.path.join(tmp, "model.nir")
            train_small_run(tmp, run, "zero_immediate", 5)
            subprocess.run([BINARY, "export", run, "--format", "nir", "--nir-readout", "lif", "--out", path],
                           check=True, capture_output=True)
            graph = nir.read(path)
            # The nodes in the order they compute (the file tracks creation order): the importer
            # builds its modules in the order it reads them.
            self.assertEqual(list(graph.nodes), ["input", "fc_in", "rlif", "fc_out", "li", "output"])
            self.assertIsInstance(graph.nodes["li"], nir.LIF)
            self.assertTrue(np.all(np.isinf(graph.nodes["li"].v_threshold)))
            imported = import_from_nir(graph)

            hidden = []
            imported.get_submodule("rlif").get_submodule("lif").register_forward_hook(
                lambda module, args, out: hidden.append((out[0] if isinstance(out, tuple) else out).detach().clone()))
            torch.manual_seed(6)
            x = (torch.rand(40, 3, 700) < 0.1).float()
            snn.utils.reset(imported)
            readout, state = [], None
            with torch.no_grad():
                for t in range(x.shape[0]):
                    _, state = imported(x[t], state)
                    readout.append(imported.get_submodule("li").mem.detach().clone())
                _, readout_mem, spikes, _ = sernn.load_run(run).network(x)
            self.assertEqual(len(hidden), x.shape[0])
            self.assertGreater(spikes.sum().item(), 20)
            torch.testing.assert_close(torch.stack(hidden), spikes.float(), rtol=0, atol=0)
            torch.testing.assert_close(torch.stack(readout), readout_mem, rtol=1e-5, atol=1e-5)

            # The same file read back by sernn: the readout LIF is the leaky integrator.
            back = sernn.from_nir(graph)
            for name, value in sernn.load_run(run).network.state_dict().items():
                self.assertTrue(torch.equal(back.state_dict()[name], value), name)

    def test_to_nir_writes_the_readout_snntorch_reads(self):
        net = sernn.SpikingNetwork(12, 6, 3, reset_mechanism="zero_immediate")
        graph = sernn.to_nir(net, readout="lif")
        self.assertEqual(list(graph.nodes), ["input", "fc_in", "rlif", "fc_out", "li", "output"])
        self.assertIsInstance(graph.nodes["li"], nir.LIF)
        with self.assertRaisesRegex(ValueError, "readout must be 'li' or 'lif'"):
            sernn.to_nir(net, readout="lif2")
        back = sernn.from_nir(graph)
        self.assertEqual(back.reset_mechanism, "zero_immediate")
        for name, value in net.state_dict().items():
            self.assertTrue(torch.equal(back.state_dict()[name], value), name)


SOURCE = os.environ.get("SERNN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

if __name__ == "__main__":
    unittest.main()
