"""examples/python/seRSNN_shd.py (the seed notebook's training ported to sernn) runs on synthetic SHD
and learns: two epochs on a small synthetic set raise the training accuracy above chance."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from helpers import SOURCE_DIR

BINARY = os.environ.get("SERNN_BINARY", "sernn")


class Example(unittest.TestCase):
    def test_the_notebook_port_trains_on_synthetic_shd(self):
        with tempfile.TemporaryDirectory() as tmp:
            data, history = os.path.join(tmp, "shd"), os.path.join(tmp, "history.json")
            subprocess.run([BINARY, "data", "synth-shd", "--out", data, "--train", "256", "--test", "64", "--seed",
                            "3", "--events", "150"], check=True, capture_output=True)
            script = os.path.join(SOURCE_DIR, "examples", "python", "seRSNN_shd.py")
            run = subprocess.run([sys.executable, script, "--data", data, "--epochs", "3", "--batch", "32",
                                  "--steps", "50", "--dt", "0.02", "--json", history], capture_output=True, text=True)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn("epoch 3:", run.stdout)
            with open(history) as f:
                rows = json.load(f)["history"]
            self.assertEqual([r["epoch"] for r in rows], [1, 2, 3])
            self.assertGreater(rows[-1]["train_accuracy"], 0.15)  # chance: 0.05 (20 classes)

    def test_a_missing_data_folder_is_named(self):
        script = os.path.join(SOURCE_DIR, "examples", "python", "seRSNN_shd.py")
        run = subprocess.run([sys.executable, script, "--data", "/nonexistent/shd"], capture_output=True, text=True)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("/nonexistent/shd", run.stderr)
        self.assertIn("synth-shd", run.stderr)


if __name__ == "__main__":
    unittest.main()
