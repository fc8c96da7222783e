#pragma once
/// K spiking networks as one model with stacked parameters (issue 25): the members of a spiking
/// ensemble when all are SpikingRNNs on the fast path with a full-rank W and the same architecture
/// (SpikingStack::can_stack), Dale's law and sparse masks included (issue 36). As
/// RateEnsemble for rate networks, every parameter stacks the members along its first
/// dimension, under SpikingRNN's names:
///
///     input.weight [K, N, I]   input.bias [K, N]   recurrent.weight [K, N, N]   recurrent.bias [K, N]
///     beta [K, N]              readout.weight [K, C, N]   readout.bias [K, C]   buffer readout_beta [K, C]
///
/// and, under Dale's law or a sparse mask (models/dale.h), the buffers neuron_sign [K, N] and
/// recurrent_mask [K, N, N]: each member's own, the effective weight abs(W_raw) * mask (or
/// W_raw * mask) taken elementwise for all members at once.
///
/// so the Trainer's Adam, clip, NaN guard and the β clamp are one set of operators for all
/// members, and a step is one input projection node (member_input_projection; members on one
/// seed read one batch) and one LIF node (lif_network_members): the operators of a step do not
/// grow with K. Member k computes exactly what the SpikingRNN it was built from computes.
#include <vector>

#include <torch/torch.h>

#include "models/spiking_rnn.h"

namespace sernn {

class SpikingStackImpl : public Network {
 public:
  /// Whether `members` can be stacked: fast path, rank 0, and the same sizes, neuron, readout,
  /// β-clipping and Dale options (τ, the readout's β and each member's mask may differ).
  static bool can_stack(const std::vector<SpikingRNN>& members);
  /// Stacks copies of the members' parameters (can_stack(members) must hold).
  explicit SpikingStackImpl(const std::vector<SpikingRNN>& members);

  /// inputs: [K, T, B, I] (each member its own batch).
  NetworkOutput run(const torch::Tensor& inputs, bool training) override;
  /// inputs[k]: member k's [T, B, I], dense or sparse COO (the same tensor for members that
  /// share a batch: compressed once).
  NetworkOutput run_members(const std::vector<torch::Tensor>& inputs, bool training) override;
  bool takes_sparse_inputs() const override { return true; }
  /// The effective weights [K, N, N]: recurrent_w, or masked under Dale's law / a sparse mask.
  torch::Tensor recurrent_weight() override;
  torch::Tensor recurrent_parameter() override { return recurrent_w; }
  int64_t members() const override { return recurrent_w.size(0); }
  /// Member k as a SpikingRNN holding copies of its current parameters (the global random
  /// generator is left as it was).
  std::shared_ptr<Network> member(int64_t k) override;
  std::vector<int64_t> parameter_owners() override { return std::vector<int64_t>(parameters().size(), -1); }
  /// Every member's β clipped to [beta_min, beta_max] (if beta_clip): one clamp.
  void after_step() override;

  SpikingRNNOptions options;  ///< member 0's
  torch::Tensor input_w, input_b, recurrent_w, recurrent_b, beta, readout_w, readout_b, readout_beta;
  torch::Tensor neuron_sign, recurrent_mask;  ///< [K, N], [K, N, N] when options.dale().any()
};
TORCH_MODULE(SpikingStack);

}  // namespace sernn
