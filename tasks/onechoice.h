#pragma once
/// One-choice inference task of the rate seRNN papers (DESIGN §4).
///
/// A goal is shown at one of the 4 corners of a 3x3 grid for 20 steps, then a 10-step delay,
/// then two choice options for 20 steps (T = 50); the correct output is the option closer to
/// the goal. Inputs: 8 channels — 0..3 one-hot the goal (grid cells 7, 9, 17, 19), 4..7 two-hot
/// the offered moves (left, up, right, down). Labels over (left, up, right, down) = 0..3.
/// The 8 problems (goal, offered -> correct) are sampled uniformly:
///     (9, l u -> u) (9, r d -> r) (19, l d -> d) (17, r d -> d)
///     (17, u l -> l) (7, u r -> u) (19, l r -> r) (7, l r -> l)
/// Gaussian noise (sigma = task.noise) is added to training inputs only, fresh every epoch.
/// The "random" control (`shuffle_labels`) permutes the labels across samples.
#include <array>

#include "tasks/in_memory.h"

namespace sernn {

struct OneChoiceProblem {
  int goal_cell;               ///< 7, 9, 17 or 19
  int goal_channel;            ///< 0..3
  std::array<int, 2> offered;  ///< moves 0..3 = left, up, right, down
  int correct;                 ///< move 0..3
};

/// The 8 problems in the order of DESIGN §4.
const std::array<OneChoiceProblem, 8>& onechoice_problems();

struct OneChoiceOptions : SyntheticTaskOptions {
  bool shuffle_labels = false;
  int64_t goal_steps = 20, delay_steps = 10, choice_steps = 20;
};

class OneChoiceTask : public InMemoryTask {
 public:
  explicit OneChoiceTask(OneChoiceOptions options);
  std::string name() const override { return "onechoice"; }
  int64_t input_size() const override { return 8; }
  int64_t num_classes() const override { return 4; }

  int64_t steps() const { return opt_.goal_steps + opt_.delay_steps + opt_.choice_steps; }
  /// Which of the 8 problems each sample of a split is ([n]; inputs() and labels() hold the data).
  const torch::Tensor& problems(Split s) const { return problem_ids_[static_cast<int>(s)]; }

  /// Inputs [T, 8] of one problem, noise-free.
  torch::Tensor encode(const OneChoiceProblem& p) const;

 private:
  OneChoiceOptions opt_;
  std::array<torch::Tensor, 3> problem_ids_;
};

}  // namespace sernn
