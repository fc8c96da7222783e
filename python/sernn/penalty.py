"""The wiring and communication costs of the seRNN papers (DESIGN §2) as a module over the
recurrent weight, on torch.ops.sernn.wiring_penalty / resolvent_penalty (regularizers/penalties.h):

    l1     Σ |W|          space  Σ |W| ∘ D          comm   Σ |W| ∘ C          sernn  Σ |W| ∘ D ∘ C

D: Euclidean distances of the neurons' coordinates; C = expm(S^-1/2 |W| S^-1/2) with a zero
diagonal, raised to `comms_factor`; S the in-strength (row sums, the spiking reference) or the
out-strength. Plain sums (γ is the caller's): a weight [N, N] gives a scalar, [K, N, N] gives [K].
"""
import torch
from torch import nn

KINDS = ("l1", "space", "comm", "sernn", "resolvent")
GRADS = ("full", "detached", "autograd")


class seRNNPenalty(nn.Module):  # noqa: N801 (the papers' spelling)
    """penalty(weight) -> Σ_ij |W_ij| (D_ij) (C_ij): `kind` l1 | space | comm | sernn | resolvent.

    coords: [N, 3] neuron positions (needed by space and sernn; a run's coords.csv). grad: how C
    is differentiated: "full" (the analytic adjoint through expm, S and |W|), "detached" (C a
    constant; seed 000's code), "autograd" (PyTorch autograd through matrix_exp: the slow
    reference). strength: "in" or "out". resolvent: Σ |W| ∘ (I - alpha S_in^-1 |W|)^-1 (seed 003).
    """

    def __init__(self, coords=None, kind="sernn", grad="full", strength="in", comms_factor=1.0, alpha=0.5):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"sernn.seRNNPenalty: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if grad not in GRADS:
            raise ValueError(f"sernn.seRNNPenalty: grad must be one of {', '.join(GRADS)}, got {grad!r}")
        if strength not in ("in", "out"):
            raise ValueError(f"sernn.seRNNPenalty: strength must be 'in' or 'out', got {strength!r}")
        self.kind, self.grad, self.strength = kind, grad, strength
        self.comms_factor, self.alpha = float(comms_factor), float(alpha)
        distance = None
        if kind in ("space", "sernn"):
            if coords is None:
                raise ValueError(f"sernn.seRNNPenalty: kind {kind!r} needs the neurons' coords [N, 3]")
            coords = torch.as_tensor(coords, dtype=torch.float64)
            if coords.dim() != 2 or coords.shape[1] != 3:
                raise ValueError(f"sernn.seRNNPenalty: coords must be [N, 3], got {tuple(coords.shape)}")
            distance = torch.cdist(coords, coords, compute_mode="donot_use_mm_for_euclid_dist")
        self.register_buffer("distance", distance)

    def forward(self, weight):
        if self.kind == "resolvent":
            return torch.ops.sernn.resolvent_penalty(weight, self.alpha)
        distance = None if self.distance is None else self.distance.to(weight.dtype)
        return torch.ops.sernn.wiring_penalty(weight, self.kind, distance, self.grad, self.strength, self.comms_factor)
