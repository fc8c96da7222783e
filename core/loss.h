#pragma once
/// The training loss as a list of weighted terms (DESIGN §2), L = Σ_k strength_k · cost_k:
///
///     task_loss      1 · cross-entropy of the logits against the labels
///     reg_loss       γ · L_constraint(W)     (regularizer.gamma, regularizer.kind)
///     activity_cost  γ_a · cost(activity)    (activity.gamma, activity.kind)
///
/// Each term carries its strength, so "cost × strength" is written once (here), whatever the
/// cost is. The Trainer adds the weighted terms in list order and reports each one's
/// per-sample mean per epoch under the term's name (metrics.jsonl).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/interfaces.h"

namespace sernn {

/// What a term may look at: one network's output for one batch and its recurrent weight (for
/// an ensemble, one member's part of each).
struct LossInputs {
  const torch::Tensor& logits;    ///< [B, classes]
  const torch::Tensor& labels;    ///< [B]
  const torch::Tensor& activity;  ///< [B, N]; undefined when the network reports none
  /// The recurrent weight [N, N] (computed only when a term asks for it).
  std::function<torch::Tensor()> recurrent_weight;
};

struct LossTerm {
  std::string name;  ///< metric key of the weighted term
  double strength = 1.0;
  /// The unweighted cost of one batch (a scalar tensor); an undefined tensor when it does not
  /// apply to this output (e.g. a network that reports no activity).
  std::function<torch::Tensor(const LossInputs&)> cost;
};

/// 1 · mean cross-entropy of the logits against the labels.
LossTerm task_loss_term();
/// γ · penalty(W) on the recurrent weight; always listed (a missing penalty or γ = 0
/// costs nothing and reports 0), since reg_loss is a column of every run's metrics.
LossTerm penalty_term(std::shared_ptr<const Penalty> penalty, double gamma);
/// γ_a · cost(activity [B, N]).
LossTerm activity_term(std::function<torch::Tensor(const torch::Tensor&)> cost, double strength);

/// Σ strength · cost over the terms that apply, and each applying term's weighted value.
struct LossValue {
  torch::Tensor total;
  std::vector<std::pair<std::string, torch::Tensor>> terms;
};
LossValue compute_loss(const std::vector<LossTerm>& terms, const LossInputs& inputs);

}  // namespace sernn
