#include "tasks/onechoice.h"

namespace sernn {

const std::array<OneChoiceProblem, 8>& onechoice_problems() {
  enum { L = 0, U = 1, R = 2, D = 3 };
  static const std::array<OneChoiceProblem, 8> problems{{
      {9, 1, {L, U}, U},
      {9, 1, {R, D}, R},
      {19, 3, {L, D}, D},
      {17, 2, {R, D}, D},
      {17, 2, {U, L}, L},
      {7, 0, {U, R}, U},
      {19, 3, {L, R}, R},
      {7, 0, {L, R}, L},
  }};
  return problems;
}

torch::Tensor OneChoiceTask::encode(const OneChoiceProblem& p) const {
  auto x = torch::zeros({steps(), 8});
  x.slice(0, 0, opt_.goal_steps).select(1, p.goal_channel).fill_(1.0);
  const int64_t c0 = opt_.goal_steps + opt_.delay_steps;
  for (int move : p.offered) x.slice(0, c0, steps()).select(1, 4 + move).fill_(1.0);
  return x;
}

OneChoiceTask::OneChoiceTask(OneChoiceOptions options) : InMemoryTask(options.noise), opt_(options) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opt_.seed);
  std::vector<torch::Tensor> encoded;
  std::vector<int64_t> correct;
  for (const auto& p : onechoice_problems()) {
    encoded.push_back(encode(p));
    correct.push_back(p.correct);
  }
  const auto table = torch::stack(encoded, 1);  // [T, 8 problems, 8 channels]
  const auto answers = torch::tensor(correct, torch::kInt64);
  const auto sizes = opt_.split_sizes();
  for (int s = 0; s < 3; ++s) {
    auto ids = torch::randint(0, 8, {sizes[s]}, gen, torch::kInt64);
    problem_ids_[s] = ids;
    auto labels = answers.index_select(0, ids);
    if (opt_.shuffle_labels) labels = labels.index_select(0, torch::randperm(sizes[s], gen, torch::kInt64));
    set_split(static_cast<Split>(s), table.index_select(1, ids).contiguous(), labels);
  }
}

}  // namespace sernn
