#include "tasks/delayed_match.h"

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {

DelayedMatchTask::DelayedMatchTask(DelayedMatchOptions options) : InMemoryTask(options.noise), opt_(options) {
  if (opt_.stimuli < 2)
    throw InputError(fmt::format("key 'task.stimuli': need at least 2 stimuli, got {}", opt_.stimuli));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opt_.seed);
  const auto sizes = opt_.split_sizes();
  const int64_t K = opt_.stimuli, S = opt_.sample_steps, T = steps();
  for (int s = 0; s < 3; ++s) {
    const int64_t n = sizes[s];
    const auto sample = torch::randint(0, K, {n}, gen, torch::kInt64);
    const auto match = torch::randint(0, 2, {n}, gen, torch::kInt64);
    // A non-match is the sample shifted by 1..K-1 (mod K): uniform over the other stimuli.
    const auto shift = torch::randint(1, K, {n}, gen, torch::kInt64);
    const auto test = torch::where(match.eq(1), sample, (sample + shift).remainder(K));
    auto x = torch::zeros({T, n, K});
    const auto one_hot = [&](const torch::Tensor& ids) {
      return torch::zeros({n, K}).scatter_(1, ids.unsqueeze(1), 1.0);
    };
    x.slice(0, 0, S).copy_(one_hot(sample).unsqueeze(0).expand({S, n, K}));
    x.slice(0, T - S, T).copy_(one_hot(test).unsqueeze(0).expand({S, n, K}));
    sample_[s] = sample;
    test_[s] = test;
    set_split(static_cast<Split>(s), x, match);
  }
}

}  // namespace sernn
