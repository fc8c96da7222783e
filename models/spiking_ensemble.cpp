#include "models/spiking_ensemble.h"

#include <string>

namespace sernn {

SpikingEnsembleImpl::SpikingEnsembleImpl(const std::vector<SpikingRNN>& members) : members_(members) {
  TORCH_CHECK(!members_.empty(), "SpikingEnsemble: no members");
  for (size_t k = 0; k < members_.size(); ++k) register_module(std::to_string(k), members_[k]);
  const auto& o = members_[0]->options;
  fused_ = true;
  for (const auto& m : members_) {
    const auto& mo = m->options;
    fused_ = fused_ && !mo.reference() && mo.hidden() == o.hidden() && mo.outputs() == o.outputs() &&
             mo.threshold() == o.threshold() && mo.slope() == o.slope() && mo.reset() == o.reset() &&
             mo.sum_readout() == o.sum_readout();
  }
}

NetworkOutput SpikingEnsembleImpl::run(const torch::Tensor& inputs, bool training) {
  TORCH_CHECK(inputs.dim() == 4 && inputs.size(0) == members(), "SpikingEnsemble expects inputs [", members(),
              ", T, B, C], got ", inputs.sizes());
  return run_members(inputs.unbind(0), training);
}

NetworkOutput SpikingEnsembleImpl::run_members(const std::vector<torch::Tensor>& inputs, bool training) {
  TORCH_CHECK(static_cast<int64_t>(inputs.size()) == members(), "SpikingEnsemble expects ", members(),
              " members' inputs, got ", inputs.size());
  if (fused_) return run_fused(inputs);
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

NetworkOutput SpikingEnsembleImpl::run_fused(const std::vector<torch::Tensor>& inputs) {
  std::vector<torch::Tensor> drives, weights, betas, w_out, b_out, r_beta;
  // The sparse form of each distinct batch, built once for the members that read it.
  std::vector<std::pair<const void*, std::optional<SparseInput>>> sparse;
  for (int64_t k = 0; k < members(); ++k) {
    auto& m = members_[k];
    const auto& x = inputs[k];
    TORCH_CHECK(x.dim() == 3 && x.size(2) == m->options.inputs(), "SpikingEnsemble: member ", k,
                " expects inputs [T, B, ", m->options.inputs(), "], got ", x.sizes());
    const void* key = x.unsafeGetTensorImpl();
    auto it = std::find_if(sparse.begin(), sparse.end(), [&](const auto& s) { return s.first == key; });
    if (it == sparse.end()) it = sparse.insert(sparse.end(), {key, sparse_input(x)});
    drives.push_back(m->drive(x, it->second ? &*it->second : nullptr));
    weights.push_back(m->recurrent_weight());
    betas.push_back(m->beta);
    w_out.push_back(m->readout->weight);
    b_out.push_back(m->readout->bias);
    r_beta.push_back(m->readout_beta);
  }
  const auto& o = members_[0]->options;
  // The stacked drive is a fresh copy that nothing else reads: it becomes the membrane buffer.
  auto trace = lif_network_members(torch::stack(drives), torch::stack(weights), torch::stack(betas),
                                   {torch::stack(w_out), torch::stack(b_out), torch::stack(r_beta)}, o.threshold(),
                                   o.slope(), o.reset(), /*drive_is_scratch=*/true);
  return spiking_output(trace.readout_mem, trace.counts, o.sum_readout());
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
