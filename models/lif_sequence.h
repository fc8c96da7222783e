#pragma once
/// The recurrent LIF layer and its leaky readout over a whole sequence as one autograd node
/// (the `fast` path of SpikingRNN).
///
/// Same model as T calls of lif_step for the hidden layer and the readout (see lif.h), but the
/// forward keeps only the membranes [T, B, N] (in the caller's drive buffer, if it is scratch)
/// and the spikes as uint8; the backward runs the time loop in reverse with one [B, N] x [N, N]
/// product per step, forms the readout gradient into the spikes step by step (no [T, B, N]
/// gradient buffer), and the weight gradients as sums over the spikes. On the CPU the
/// elementwise work of a step is one fused loop and every product with spikes is a gather over
/// the neurons that fired. The backward reuses the membrane buffer, so a graph through it can
/// be backpropagated once (retain_graph is refused).
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "models/lif.h"

namespace sernn {

/// What lif_network returns.
struct LifNetworkTrace {
  torch::Tensor readout_mem;  ///< [T, B, C] readout membrane (differentiable)
  torch::Tensor spikes;       ///< [T, B, N] hidden spikes as uint8 0/1 (no gradient)
  torch::Tensor counts;       ///< [B, N] spikes per neuron and sample (differentiable via the surrogate)
};

/// The non-spiking leaky readout: u_t = clamp(beta, 0, 1) u_{t-1} + readout.weight s_t + bias.
struct LifReadout {
  torch::Tensor weight;  ///< [C, N] (differentiable)
  torch::Tensor bias;    ///< [C] (differentiable)
  torch::Tensor beta;    ///< [C] (a constant: no gradient)
};

/// drive: [T, B, N] feed-forward current (biases included); weight: [N, N] recurrent (out, in);
/// beta: [N] (clamped to [0, 1] inside). Differentiable in drive, weight, beta and the readout's
/// weight and bias, with the fast-sigmoid surrogate of `slope`. With `drive_is_scratch`, the
/// caller promises not to read `drive` afterwards: its storage becomes the membrane buffer.
LifNetworkTrace lif_network(const torch::Tensor& drive, const torch::Tensor& weight, const torch::Tensor& beta,
                            const LifReadout& readout, double threshold, double slope, ResetMode reset,
                            bool drive_is_scratch = false);

/// K networks at once (ensembles, issue 16): drive [K, T, B, N], weight [K, N, N], beta [K, N],
/// readout weight [K, C, N], bias [K, C], beta [K, C]; every field of the result gains the
/// leading K. Member k computes exactly what lif_network computes on its slices (the same
/// arithmetic in the same order). On the CPU the threads share out the K x B independent sample
/// rows (one parallel region per direction for all members); on CUDA one launch per direction
/// covers all members.
LifNetworkTrace lif_network_members(const torch::Tensor& drive, const torch::Tensor& weight, const torch::Tensor& beta,
                                    const LifReadout& readout, double threshold, double slope, ResetMode reset,
                                    bool drive_is_scratch = false);

/// What lif_members_forward returns: lif_network_members' outputs and the membranes.
struct LifMembersForward {
  torch::Tensor readout_mem;  ///< [K, T, B, C]
  torch::Tensor spikes;       ///< [K, T, B, N] uint8
  torch::Tensor counts;       ///< [K, B, N]
  torch::Tensor mem;          ///< [K, T, B, N] membranes after each step's reset (what the backward reads)
};

/// lif_network_members' gradients: drive [K, T, B, N], weight [K, N, N], beta [K, N], readout
/// weight [K, C, N] and bias [K, C].
struct LifMembersGrads {
  torch::Tensor drive, weight, beta, readout_weight, readout_bias;
};

/// The two halves of lif_network_members' autograd node, without autograd (the operators of
/// ops/ register them on the dispatcher; shapes as lif_network_members, every tensor contiguous
/// on one device, beta and readout.beta in the drive's dtype, unclamped). The forward writes the
/// membranes into `drive` when `drive_is_scratch`. The backward overwrites `mem` with the
/// drive's gradient (returned as `drive`); undefined output gradients count as zero.
LifMembersForward lif_members_forward(const torch::Tensor& drive, const torch::Tensor& weight,
                                      const torch::Tensor& beta, const LifReadout& readout, double threshold,
                                      ResetMode reset, bool drive_is_scratch = false);
LifMembersGrads lif_members_backward(const torch::Tensor& grad_readout_mem, const torch::Tensor& grad_counts,
                                     const torch::Tensor& mem, const torch::Tensor& spikes, const torch::Tensor& weight,
                                     const torch::Tensor& beta, const torch::Tensor& readout_weight,
                                     const torch::Tensor& readout_beta, double threshold, double slope,
                                     ResetMode reset);

}  // namespace sernn

namespace sernn {

/// The nonzero entries of x [T, B, I] in compressed-row form (rows = T x B), built once so that
/// several projections of the same input (the members of an ensemble that share a batch) scan
/// the dense tensor once.
struct SparseInput {
  torch::Tensor row_start;                   ///< [R + 1] int64: row r's entries are [row_start[r], row_start[r + 1])
  torch::Tensor cols;                        ///< [nnz] int64 input index
  torch::Tensor vals;                        ///< [nnz] value (x's dtype)
  int64_t steps = 0, batch = 0, inputs = 0;  ///< T, B, I
};

/// x's nonzeros as a SparseInput when x is on the CPU, needs no gradient and has fewer than
/// `max_density` nonzeros (judged on a strided sample of rows); otherwise nothing (a dense GEMM
/// is then the faster product). A sparse COO x on the CPU (SHD's batches) is always converted,
/// in O(nnz), with the same rows, columns and values as its dense form gives.
std::optional<SparseInput> sparse_input(const torch::Tensor& x, double max_density = 0.25);

/// x @ weight [O, I]^T + bias -> [T, B, O] over x's nonzeros only: nnz x O work instead of
/// T B I O. Differentiable in weight and bias (x gets no gradient). The K = 1 case of
/// member_sparse_projection.
torch::Tensor sparse_projection(const SparseInput& x, const torch::Tensor& weight, const torch::Tensor& bias);

/// K members' sparse projections as one autograd node: member k reads *x[k] (members that share
/// a batch pass the same pointer and its entries are read in place), weight [K, O, I], bias
/// [K, O] -> [K, T, B, O]. Member k computes exactly what sparse_projection computes on its slices.
torch::Tensor member_sparse_projection(const std::vector<const SparseInput*>& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias);

/// x [T, B, I] @ weight [O, I]^T + bias -> [T, B, O], differentiable in weight and bias.
/// Spike-count inputs are mostly zero: on the CPU, below `max_density` nonzeros the product is
/// sparse_projection; otherwise one GEMM (on the CPU in fixed row blocks: member_linear). The
/// K = 1 case of member_input_projection.
torch::Tensor input_projection(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               double max_density = 0.25);

/// K members' input projections: inputs[k] is member k's [T, B, I] (dense, or sparse COO), weight
/// [K, O, I], bias [K, O] -> [K, T, B, O]. Each distinct input tensor is compressed (or densified)
/// once for the members that read it. All members sparse: one member_sparse_projection; none:
/// one batched GEMM; a mix: member by member. On the CPU member k computes exactly what
/// input_projection computes for it alone.
torch::Tensor member_input_projection(const std::vector<torch::Tensor>& inputs, const torch::Tensor& weight,
                                      const torch::Tensor& bias, double max_density = 0.25);

/// member_input_projection's gradients in weight [K, O, I] and bias [K, O] for its output's
/// gradient `grad` [K, T, B, O], the numbers its autograd node computes, without the forward;
/// nothing where a member's batch takes the dense path (differentiate the projection there).
std::optional<std::pair<torch::Tensor, torch::Tensor>> member_input_projection_grads(
    const std::vector<torch::Tensor>& inputs, const torch::Tensor& weight, const torch::Tensor& bias,
    const torch::Tensor& grad, double max_density = 0.25);

}  // namespace sernn
