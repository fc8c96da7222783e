#pragma once
/// Hierarchically modular task (seed 003, R-RNN): inputs grouped into M modules of S
/// sub-modules. Sub-module (m, s) carries one bit b_ms, shown one-hot on its two channels
/// 2 (m S + s) + b_ms during time window s (windows of `sample_steps`, one after another), then
/// a delay of `delay_steps`. Each module's value is the parity (XOR) of its sub-modules' bits,
/// so it needs communication within the module across time. `combine` makes the class:
///   concat: the module values read together, label = sum_m parity_m 2^m (2^M classes): the
///           readout needs every module, the modules need not talk to each other;
///   xor:    the parity of the module values (2 classes): a linear readout cannot form it, so
///           the hidden layer must combine the modules (communication between modules).
/// Input channels 2 S m .. 2 S (m + 1) - 1 belong to module m (`module_of_channel`).
#include "tasks/in_memory.h"

namespace sernn {

struct HierarchicalOptions : SyntheticTaskOptions {
  int64_t modules = 2;     ///< M (2^M classes)
  int64_t submodules = 2;  ///< S per module
  int64_t sample_steps = 10;
  int64_t delay_steps = 20;
  bool xor_modules = false;                                                  ///< combine = xor (else concat)
  int64_t steps() const { return submodules * sample_steps + delay_steps; }  ///< T
  int64_t inputs() const { return 2 * modules * submodules; }
  int64_t classes() const { return xor_modules ? 2 : int64_t{1} << modules; }
};

class HierarchicalTask : public InMemoryTask {
 public:
  explicit HierarchicalTask(HierarchicalOptions options);
  std::string name() const override { return "hierarchical"; }
  int64_t input_size() const override { return opt_.inputs(); }
  int64_t num_classes() const override { return opt_.classes(); }
  int64_t steps() const { return opt_.steps(); }
  /// The bits of every trial of a split, [n, M, S].
  const torch::Tensor& bits(Split s) const { return bits_[static_cast<int>(s)]; }
  /// Module index of each input channel ([C] int64): the input groups of the pathway analysis.
  torch::Tensor module_of_channel() const;

 private:
  HierarchicalOptions opt_;
  std::array<torch::Tensor, 3> bits_;
};

/// Module index of each input channel for M modules of S sub-modules (two channels each).
torch::Tensor hierarchical_channel_modules(int64_t modules, int64_t submodules);

}  // namespace sernn
