#pragma once
/// The recurrent LIF layer over a whole sequence as one autograd node (the `fast` path).
///
/// Same model as T calls of lif_step (see lif.h), but: the forward keeps only the membranes
/// [T, B, N] and the spikes it returns; the backward runs the time loop in reverse with one
/// [B, N] x [N, N] product per step and forms the recurrent weight gradient as a single GEMM over
/// all steps. On the CPU the elementwise work of a step is one fused loop, the recurrent input
/// is gathered from the spiking neurons only, and the backward reuses the membrane buffer (so a
/// graph through it can be backpropagated once; retain_graph is refused).
#include <torch/torch.h>

#include "models/lif.h"

namespace sernn {

/// drive: [T, B, N] feed-forward current (biases included); weight: [N, N] recurrent (out, in);
/// beta: [N] (clamped to [0, 1] inside). Returns spikes [T, B, N] (0/1 in drive's dtype).
/// Differentiable in drive, weight and beta with the fast-sigmoid surrogate of `slope`.
/// With `drive_is_scratch`, the caller promises not to read `drive` afterwards: its storage is
/// reused for the membranes (saves a [T, B, N] buffer).
torch::Tensor lif_sequence(const torch::Tensor& drive, const torch::Tensor& weight, const torch::Tensor& beta,
                           double threshold, double slope, ResetMode reset, bool drive_is_scratch = false);

}  // namespace sernn

namespace sernn {

/// x [T, B, I] @ weight [O, I]^T + bias -> [T, B, O], differentiable in weight and bias.
/// Spike-count inputs are mostly zero: on the CPU, below `max_density` nonzeros the product is a
/// gather-sum over the nonzero entries (embedding_bag with per-sample weights, nnz x O work
/// instead of T B I O); otherwise, and on other devices, one dense GEMM.
torch::Tensor input_projection(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               double max_density = 0.25);

}  // namespace sernn
