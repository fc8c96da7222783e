#pragma once
/// K spiking networks (SpikingRNN, same architecture) in one model, trained as K runs at once by
/// the Trainer (core/trainer.h; members() = K). Each member keeps its own parameters and reads its
/// own batch; outputs are stacked: logits [K, B, classes], activity [K, B, N], stats [K],
/// recurrent_weight [K, N, N]. On the fast path all members' time loops are one node
/// (lif_network_members: one parallel region over the K x B sample rows, so with K >= threads
/// each thread runs whole members), and members that share a batch share its sparse form. With
/// the reference path each member runs on its own. Member k computes exactly what the SpikingRNN
/// it was built from computes.
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
  /// inputs[k]: member k's [T, B, C] (no stacked copy of the members' batches).
  NetworkOutput run_members(const std::vector<torch::Tensor>& inputs, bool training) override;
  /// Fused members read sparse COO inputs (each distinct batch compressed once).
  bool takes_sparse_inputs() const override { return fused_; }
  torch::Tensor recurrent_weight() override;
  int64_t members() const override { return static_cast<int64_t>(members_.size()); }
  std::shared_ptr<Network> member(int64_t k) override { return members_.at(k).ptr(); }
  /// Member k owns its own parameters (parameters() lists member 0's, then member 1's, ...).
  std::vector<int64_t> parameter_owners() override;
  /// Each member's β clipping.
  void after_step() override;

 private:
  /// All members' fast time loops as one lif_network_members node.
  NetworkOutput run_fused(const std::vector<torch::Tensor>& inputs);

  std::vector<SpikingRNN> members_;
  bool fused_ = false;  ///< every member on the fast path, with the same neuron and readout options
};
TORCH_MODULE(SpikingEnsemble);

}  // namespace sernn
