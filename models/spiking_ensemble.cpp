#include "models/spiking_ensemble.h"

#include <string>

namespace sernn {

SpikingEnsembleImpl::SpikingEnsembleImpl(const std::vector<SpikingRNN>& members) : members_(members) {
  TORCH_CHECK(!members_.empty(), "SpikingEnsemble: no members");
  for (size_t k = 0; k < members_.size(); ++k) register_module(std::to_string(k), members_[k]);
}

NetworkOutput SpikingEnsembleImpl::run(const torch::Tensor& inputs, bool training) {
  TORCH_CHECK(inputs.dim() == 4 && inputs.size(0) == members(), "SpikingEnsemble expects inputs [", members(),
              ", T, B, C], got ", inputs.sizes());
  std::vector<torch::Tensor> logits, activity;
  std::map<std::string, std::vector<torch::Tensor>> stats;
  for (int64_t k = 0; k < members(); ++k) {
    auto out = members_[k]->run(inputs[k], training);
    logits.push_back(out.logits);
    if (out.activity.defined()) activity.push_back(out.activity);
    for (auto& [key, v] : out.stats) stats[key].push_back(v.reshape({}));
  }
  NetworkOutput out;
  out.logits = torch::stack(logits);
  if (static_cast<int64_t>(activity.size()) == members()) out.activity = torch::stack(activity);
  for (auto& [key, v] : stats)
    if (static_cast<int64_t>(v.size()) == members()) out.stats[key] = torch::stack(v);
  return out;
}

torch::Tensor SpikingEnsembleImpl::recurrent_weight() {
  std::vector<torch::Tensor> w;
  for (auto& m : members_) w.push_back(m->recurrent_weight());
  return torch::stack(w);
}

std::vector<int64_t> SpikingEnsembleImpl::parameter_owners() {
  std::vector<int64_t> owners;
  for (int64_t k = 0; k < members(); ++k) owners.insert(owners.end(), members_[k]->parameters().size(), k);
  return owners;
}

void SpikingEnsembleImpl::after_step() {
  for (auto& m : members_) m->after_step();
}

}  // namespace sernn
