#include "tasks/hierarchical.h"

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {

torch::Tensor hierarchical_channel_modules(int64_t modules, int64_t submodules) {
  return torch::arange(modules, torch::kInt64).repeat_interleave(2 * submodules);
}

torch::Tensor HierarchicalTask::module_of_channel() const {
  return hierarchical_channel_modules(opt_.modules, opt_.submodules);
}

HierarchicalTask::HierarchicalTask(HierarchicalOptions options) : InMemoryTask(options.noise), opt_(options) {
  if (opt_.modules < 1 || opt_.modules > 6)
    throw InputError(fmt::format("key 'task.modules': expected 1..6 modules (2^M classes), got {}", opt_.modules));
  if (opt_.submodules < 1)
    throw InputError(fmt::format("key 'task.submodules': expected at least 1, got {}", opt_.submodules));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opt_.seed);
  const auto sizes = opt_.split_sizes();
  const int64_t M = opt_.modules, S = opt_.submodules, W = opt_.sample_steps, C = input_size();
  const auto weights = torch::pow(2, torch::arange(M, torch::kInt64));
  for (int s = 0; s < 3; ++s) {
    const int64_t n = sizes[s];
    const auto bits = torch::randint(0, 2, {n, M, S}, gen, torch::kInt64);
    auto x = torch::zeros({steps(), n, C});
    for (int64_t sub = 0; sub < S; ++sub) {
      // Channel of each module's sub-module `sub`: 2 (m S + sub) + bit.
      const auto channel =
          2 * (torch::arange(M, torch::kInt64) * S + sub).unsqueeze(0) + bits.select(2, sub);  // [n, M]
      const auto frame = torch::zeros({n, C}).scatter_(1, channel, 1.0);
      x.slice(0, sub * W, (sub + 1) * W).copy_(frame.unsqueeze(0).expand({W, n, C}));
    }
    const auto parity = bits.sum(2).remainder(2);  // [n, M]
    bits_[s] = bits;
    set_split(static_cast<Split>(s), x, opt_.xor_modules ? parity.sum(1).remainder(2) : (parity * weights).sum(1));
  }
}

}  // namespace sernn
