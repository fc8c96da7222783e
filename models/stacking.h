#pragma once
/// Helpers of the ensembles that hold K networks as stacked parameters (RateEnsemble,
/// SpikingStack): every parameter stacks copies of the members' own along a new first dimension,
/// under the members' dotted names.
#include <memory>
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// Copies of `get(member)` for every member, stacked: [K, ...].
template <class Member, class Get>
torch::Tensor stack_members(const std::vector<Member>& members, Get get) {
  std::vector<torch::Tensor> parts;
  for (const auto& m : members) parts.push_back(get(m).detach().clone());
  return torch::stack(parts);
}

/// The submodules "input", "recurrent" and "readout" of `module` (registered here), so that a
/// parameter registered on one of them is named as the member's ("recurrent.weight").
struct StackedLayers {
  std::shared_ptr<torch::nn::Module> input, recurrent, readout;
};
inline StackedLayers register_stacked_layers(torch::nn::Module& module) {
  return {module.register_module("input", std::make_shared<torch::nn::Module>()),
          module.register_module("recurrent", std::make_shared<torch::nn::Module>()),
          module.register_module("readout", std::make_shared<torch::nn::Module>())};
}

}  // namespace sernn
