#pragma once
/// Delayed match-to-sample, a working-memory task for E/I rate networks (seed 004).
///
/// A sample stimulus (one of K, one-hot on channels 0..K-1) is shown for `sample_steps`, then
/// nothing for `delay_steps`, then a test stimulus for `sample_steps`; T = 2 sample + delay.
/// The answer at the last step is 1 (match) when the test equals the sample, else 0. Half the
/// trials match; a non-matching test is drawn uniformly from the other K - 1 stimuli. Solving it
/// needs the sample held through the delay. Gaussian input noise (sigma = noise, fresh every
/// epoch, training only) makes the memory noisy; `model.noise` adds noise to the network too.
#include "tasks/in_memory.h"

namespace sernn {

struct DelayedMatchOptions : SyntheticTaskOptions {
  int64_t stimuli = 4;        ///< K
  int64_t sample_steps = 10;  ///< length of the sample and of the test presentation
  int64_t delay_steps = 20;
  int64_t steps() const { return 2 * sample_steps + delay_steps; }  ///< T
};

class DelayedMatchTask : public InMemoryTask {
 public:
  explicit DelayedMatchTask(DelayedMatchOptions options);
  std::string name() const override { return "delayed_match"; }
  int64_t input_size() const override { return opt_.stimuli; }
  int64_t num_classes() const override { return 2; }
  int64_t steps() const { return opt_.steps(); }
  /// Sample and test stimulus of every trial of a split ([n] each).
  const torch::Tensor& samples(Split s) const { return sample_[static_cast<int>(s)]; }
  const torch::Tensor& tests(Split s) const { return test_[static_cast<int>(s)]; }

 private:
  DelayedMatchOptions opt_;
  std::array<torch::Tensor, 3> sample_, test_;
};

}  // namespace sernn
