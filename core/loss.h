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
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/interfaces.h"

namespace sernn {

/// What a term may look at: one network's output for one batch and its recurrent weight. For
/// several members of an ensemble at once (MembersLoss), each with a leading member dimension [K].
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
  /// Non-empty: `cost` also takes the members' stacked inputs ([K, ...] -> [K]), and the terms of
  /// several members with this key are one function differing only in strength, so MembersLoss
  /// computes them in one call (issue 16: a 1,001-member ensemble would otherwise launch every
  /// term's kernels 1,001 times a step). Empty: the term is computed member by member.
  std::string batch_key;
};

/// Mean cross-entropy of logits [B, C] against labels [B] (a scalar), or of each member's
/// logits [K, B, C] against its labels [K, B] ([K]).
torch::Tensor mean_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels);

/// 1 · mean cross-entropy of the logits against the labels.
LossTerm task_loss_term();
/// γ · penalty(W) on the recurrent weight; always listed (a missing penalty or γ = 0
/// costs nothing and reports 0), since reg_loss is a column of every run's metrics. Members that
/// share one penalty object batch their terms.
LossTerm penalty_term(std::shared_ptr<const Penalty> penalty, double gamma);
/// γ_a · cost(activity [B, N]). `batch_key` names the cost when it also takes [K, B, N] -> [K]
/// (LossTerm::batch_key).
LossTerm activity_term(std::function<torch::Tensor(const torch::Tensor&)> cost, double strength,
                       std::string batch_key = "");

/// Σ strength · cost over the terms that apply, and each applying term's weighted value.
struct LossValue {
  torch::Tensor total;
  std::vector<std::pair<std::string, torch::Tensor>> terms;
};
LossValue compute_loss(const std::vector<LossTerm>& terms, const LossInputs& inputs);

/// Each member's total [K] and each term's weighted value [K] by name (0 for a member whose loss
/// has no such term, or where it does not apply).
struct MembersLossValue {
  torch::Tensor total;
  std::map<std::string, torch::Tensor> terms;
};

/// The loss of an ensemble's K members, member k's being Σ strength · cost over its own terms
/// (as compute_loss on its part of the inputs). Terms with equal batch keys are computed once on
/// the stacked inputs of the members that have them and weighted by a [K_g] strength vector; the
/// other terms member by member. The members' losses are independent: the gradient of
/// total.sum() with respect to member k's parameters is that of its own loss.
class MembersLoss {
 public:
  explicit MembersLoss(const std::vector<std::vector<LossTerm>>& member_terms);
  /// `stacked`: every member's inputs with the leading member dimension [K, ...].
  MembersLossValue operator()(const LossInputs& stacked);
  /// Terms computed for several members at once, and member by member (for tests and benchmarks).
  size_t batched_terms() const { return groups_.size(); }
  size_t single_terms() const;

 private:
  struct Group {
    LossTerm term;                  ///< the first member's (its cost; strengths are below)
    std::vector<int64_t> members;   ///< in increasing order
    std::vector<double> strengths;  ///< one per member
    bool all_members = false;       ///< members = 0..K-1: no gather or scatter
    bool unit_strength = false;     ///< every strength 1: the cost itself, as compute_loss
    torch::Tensor index;            ///< members as an int64 tensor on the inputs' device
    torch::Tensor strength;         ///< strengths in the cost's dtype and device
  };
  int64_t members_ = 0;
  std::vector<Group> groups_;
  std::vector<std::vector<LossTerm>> single_;  ///< per member, its terms without a batch key
};

}  // namespace sernn
