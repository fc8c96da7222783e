#pragma once
/// K independent rate RNNs (same architecture) stacked into one batched model, so that many
/// small networks keep one device busy: weights [K, N, N], one bmm per time step for all K.
/// Network k computes exactly what a RateRNN with member k's parameters computes. A Network
/// with members() = K: the Trainer trains it as K runs (core/trainer.h).
/// Parameter names: input.weight [K, N, C], recurrent.weight [K, N, N], recurrent.bias [K, N],
/// readout.weight [K, classes, N], readout.bias [K, classes].
/// Plain rate networks only: no Dale's law, sparse mask, per-neuron τ, noise or activity.
#include <vector>

#include <torch/torch.h>

#include "models/rate_rnn.h"

namespace sernn {

class RateEnsembleImpl : public Network {
 public:
  /// Stacks copies of the parameters of `members` (all with the same options).
  explicit RateEnsembleImpl(const std::vector<RateRNN>& members);

  /// inputs: [K, T, B, C] (each network its own batch) -> logits [K, B, classes].
  torch::Tensor forward(const torch::Tensor& inputs);
  NetworkOutput run(const torch::Tensor& inputs, bool training) override;
  /// [K, N, N].
  torch::Tensor recurrent_weight() override { return recurrent_w; }
  int64_t members() const override { return recurrent_w.size(0); }  ///< K
  /// Member k as a standalone RateRNN (copies of its current parameters).
  std::shared_ptr<Network> member(int64_t k) override { return member_rnn(k).ptr(); }
  RateRNN member_rnn(int64_t k) const;
  /// Every parameter stacks the members along its first dimension.
  std::vector<int64_t> parameter_owners() override { return std::vector<int64_t>(parameters().size(), -1); }

  RateRNNOptions options;
  torch::Tensor input_w, recurrent_w, recurrent_b, readout_w, readout_b;
};
TORCH_MODULE(RateEnsemble);

}  // namespace sernn
