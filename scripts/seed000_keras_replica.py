#!/usr/bin/env python3
"""An independent PyTorch replica of seed 000's Keras training setup (the seRNN demo of
8erberg/spatially-embedded-RNN), to test whether that setup trains the one-choice task without
gradient clipping, and which of its choices matter (issue 17).

Written from the reference's description, not from sernn: the maze task of mazeGeneratorI (20 goal
steps, 10 delay steps, 20 choice steps, 8 one-hot input channels, 4 directions; 5120 training
problems in a fixed order, batches of 128, no reshuffling), GaussianNoise(0.05) on the inputs in
training, SimpleRNN(100, relu) with Keras initialisers (glorot_uniform input kernel, orthogonal
recurrent kernel, zero bias), Dense(4) softmax with categorical cross-entropy (mean over the
batch), the SE1_sWc regulariser on the recurrent kernel (rows = presynaptic):
    gamma * sum(|W| o C o D),  C = expm(S^-1/2 |W| S^-1/2) with its diagonal zeroed,
    S = diag(row sums of |W|), D = Euclidean distances on the 5x5x4 grid (numpy meshgrid 'xy'),
and Keras' Adam (lr 1e-3, beta 0.9/0.999, epsilon 1e-7 in the 'epsilon hat' form).

Usage: scripts/seed000_keras_replica.py [--gamma G] [--reg sernn|l1] [--epochs E] [--seed S] [--clip C]
         [--torch-adam] [--shuffle] [--out JSON]
Runs with Debian's python3-torch (no other dependency). Prints one line per epoch.
"""
import argparse
import json
import math
import sys

import torch

# The eight first-choice problems: (goal location, the two choices offered, the correct step).
MAZES = [(9, "ul", "u"), (9, "rd", "r"), (19, "ld", "d"), (17, "rd", "d"),
         (17, "ul", "l"), (7, "ur", "u"), (19, "lr", "r"), (7, "lr", "l")]
GOALS = {7: 0, 9: 1, 17: 2, 19: 3}
DIRS = {"l": 0, "u": 1, "r": 2, "d": 3}
GOAL_STEPS, DELAY_STEPS, CHOICE_STEPS = 20, 10, 20


def problem(goal, choices):
    """[T, 8]: the goal one-hot (channels 0-3), a silent delay, the two choices (channels 4-7)."""
    x = torch.zeros(GOAL_STEPS + DELAY_STEPS + CHOICE_STEPS, 8)
    x[:GOAL_STEPS, GOALS[goal]] = 1
    for c in choices:
        x[GOAL_STEPS + DELAY_STEPS:, 4 + DIRS[c]] = 1
    return x


def dataset(n, gen):
    """n random problems (inputs [n, T, 8], labels [n])."""
    ids = torch.randint(0, 8, (n,), generator=gen)
    xs = torch.stack([problem(MAZES[i][0], MAZES[i][1]) for i in range(8)])
    ys = torch.tensor([DIRS[MAZES[i][2]] for i in range(8)])
    return xs[ids], ys[ids]


def distances():
    """Euclidean distances of the 5x5x4 grid in numpy meshgrid('xy') ravel order."""
    x, y, z = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), torch.arange(4.0), indexing="xy")
    coords = torch.stack([x.reshape(-1), y.reshape(-1), z.reshape(-1)], 1)
    return torch.cdist(coords.double(), coords.double()).float()


def se1_swc(w, dist):
    """The seRNN regulariser's sum (without gamma) on a Keras kernel w [pre, post]."""
    a = w.abs()
    s = a.sum(1).pow(-0.5)
    c = torch.matrix_exp(s[:, None] * a * s[None, :])
    c = c - torch.diag(torch.diagonal(c))
    return (a * c * dist).sum()


def glorot(fan_in, fan_out, gen):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * limit


def orthogonal(n, gen):
    q, r = torch.linalg.qr(torch.randn(n, n, generator=gen))
    return q * torch.sign(torch.diagonal(r))[None, :]


class KerasAdam:
    """tf.keras.optimizers.Adam: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t m / (sqrt(v) + eps)."""

    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        lr_t = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(lr_t * m / (v.sqrt() + self.eps))

    def zero_grad(self):
        for p in self.params:
            p.grad = None


def forward(params, x):
    w_in, w_rec, b, w_out, b_out = params
    h = torch.zeros(x.shape[0], w_rec.shape[0])
    for t in range(x.shape[1]):
        h = torch.relu(x[:, t] @ w_in + h @ w_rec + b)
    return h @ w_out + b_out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gamma", type=float, default=0.3)
    ap.add_argument("--reg", choices=["sernn", "l1"], default="sernn",
                    help="sernn: SE1_sWc; l1: gamma * sum |W| (Keras' L1 regulariser)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clip", type=float, default=0.0, help="global gradient-norm clip (0 = none, as Keras)")
    ap.add_argument("--torch-adam", action="store_true", help="torch.optim.Adam (eps 1e-8) instead of Keras'")
    ap.add_argument("--shuffle", action="store_true", help="reshuffle the training set every epoch")
    ap.add_argument("--out", help="write the per-epoch metrics here (JSON)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(a.seed)
    x_train, y_train = dataset(5120, gen)
    x_test, y_test = dataset(2560, gen)
    dist = distances()
    params = [glorot(8, 100, gen), orthogonal(100, gen), torch.zeros(100), glorot(100, 4, gen), torch.zeros(4)]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=1e-3) if a.torch_adam else KerasAdam(params)
    history = []
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(5120, generator=gen) if a.shuffle else torch.arange(5120)
        correct, task_sum = 0, 0.0
        for b0 in range(0, 5120, 128):
            idx = order[b0:b0 + 128]
            x = x_train[idx] + 0.05 * torch.randn(len(idx), 50, 8, generator=gen)
            logits = forward(params, x)
            task = torch.nn.functional.cross_entropy(logits, y_train[idx])
            reg = se1_swc(params[1], dist) if a.reg == "sernn" else params[1].abs().sum()
            loss = task + a.gamma * reg
            opt.zero_grad()
            loss.backward()
            if a.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, a.clip)
            opt.step()
            correct += (logits.argmax(1) == y_train[idx]).sum().item()
            task_sum += task.item() * len(idx)
        with torch.no_grad():
            test_acc = (forward(params, x_test).argmax(1) == y_test).float().mean().item()
            reg_now = (se1_swc(params[1], dist) if a.reg == "sernn" else params[1].abs().sum()).item()
        row = {"epoch": epoch, "train_acc": correct / 5120, "test_acc": test_acc, "task_loss": task_sum / 5120,
               "reg": reg_now, "mean_abs_w": params[1].abs().mean().item()}
        history.append(row)
        print(json.dumps(row), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "epochs": history}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
