#pragma once
/// K independent rate RNNs (same architecture) stacked into one batched model, so that many
/// small networks keep one device busy: weights [K, N, N], one bmm per time step for all K.
/// Network k computes exactly what a RateRNN with member k's parameters computes.
/// Parameter names: input.weight [K, N, C], recurrent.weight [K, N, N], recurrent.bias [K, N],
/// readout.weight [K, classes, N], readout.bias [K, classes].
#include <vector>

#include <torch/torch.h>

#include "models/rate_rnn.h"

namespace sernn {

class RateEnsembleImpl : public torch::nn::Module {
 public:
  /// Stacks copies of the parameters of `members` (all with the same options).
  explicit RateEnsembleImpl(const std::vector<RateRNN>& members);

  /// inputs: [K, T, B, C] (each network its own batch) -> logits [K, B, classes].
  torch::Tensor forward(const torch::Tensor& inputs);
  /// Member k as a standalone RateRNN (copies of its current parameters).
  RateRNN member(int64_t k) const;
  int64_t size() const { return recurrent_weight.size(0); }

  RateRNNOptions options;
  torch::Tensor input_weight, recurrent_weight, recurrent_bias, readout_weight, readout_bias;
};
TORCH_MODULE(RateEnsemble);

}  // namespace sernn
