#include "core/loss.h"

namespace sernn {

LossTerm task_loss_term() {
  return {"task_loss", 1.0,
          [](const LossInputs& in) { return torch::nn::functional::cross_entropy(in.logits, in.labels); }};
}

LossTerm penalty_term(std::shared_ptr<const Penalty> penalty, double gamma) {
  return {"reg_loss", gamma, [penalty, gamma](const LossInputs& in) {
            return penalty && gamma > 0.0 ? (*penalty)(in.recurrent_weight()) : torch::Tensor();
          }};
}

LossTerm activity_term(std::function<torch::Tensor(const torch::Tensor&)> cost, double strength) {
  return {"activity_cost", strength,
          [cost](const LossInputs& in) { return in.activity.defined() ? cost(in.activity) : torch::Tensor(); }};
}

LossValue compute_loss(const std::vector<LossTerm>& terms, const LossInputs& inputs) {
  LossValue v;
  for (const auto& term : terms) {
    auto cost = term.cost(inputs);
    if (!cost.defined()) continue;
    // A strength of 1 is left out rather than multiplied in: the task term's gradient stays
    // bit-identical to the plain cross-entropy's.
    auto weighted = term.strength == 1.0 ? cost : term.strength * cost;
    v.total = v.total.defined() ? v.total + weighted : weighted;
    v.terms.emplace_back(term.name, weighted);
  }
  return v;
}

}  // namespace sernn
