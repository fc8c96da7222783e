#pragma once
/// K spiking networks (SpikingRNN, same architecture) in one model, trained as K runs at once by
/// the Trainer (core/trainer.h; members() = K). Each member keeps its own parameters and runs
/// its own fast time loop (models/lif_sequence.h) on its own batch; the model stacks their
/// outputs: logits [K, B, classes], activity [K, B, N], stats [K], recurrent_weight [K, N, N].
/// Member k computes exactly what the SpikingRNN it was built from computes.
#include <vector>

#include <torch/torch.h>

#include "models/spiking_rnn.h"

namespace sernn {

class SpikingEnsembleImpl : public Network {
 public:
  /// Takes the members themselves (registered as submodules "0", "1", ...).
  explicit SpikingEnsembleImpl(const std::vector<SpikingRNN>& members);

  /// inputs: [K, T, B, C].
  NetworkOutput run(const torch::Tensor& inputs, bool training) override;
  torch::Tensor recurrent_weight() override;
  int64_t members() const override { return static_cast<int64_t>(members_.size()); }
  std::shared_ptr<Network> member(int64_t k) override { return members_.at(k).ptr(); }
  /// Member k owns its own parameters (parameters() lists member 0's, then member 1's, ...).
  std::vector<int64_t> parameter_owners() override;
  /// Each member's β clipping.
  void after_step() override;

 private:
  std::vector<SpikingRNN> members_;
};
TORCH_MODULE(SpikingEnsemble);

}  // namespace sernn
