#include "core/loss.h"

#include <algorithm>
#include <cstdint>

namespace sernn {

torch::Tensor mean_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  // One formula for one network ([B, C]) and for K members ([K, B, C]): per-sample losses, then
  // their mean, so that a member's loss and gradient are the bits of its network alone (issue 26).
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits.reshape({-1, logits.size(-1)}), labels.flatten(),
                          F::CrossEntropyFuncOptions().reduction(torch::kNone))
      .view(labels.sizes())
      .mean(-1);
}

LossTerm task_loss_term() {
  return {"task_loss", 1.0, [](const LossInputs& in) { return mean_cross_entropy(in.logits, in.labels); }, "task"};
}

LossTerm penalty_term(std::shared_ptr<const Penalty> penalty, double gamma) {
  // Every Penalty takes [K, N, N] (core/interfaces.h); the object itself is the function's identity.
  std::string key;
  if (penalty && gamma > 0.0) key = "penalty@" + std::to_string(reinterpret_cast<std::uintptr_t>(penalty.get()));
  return {"reg_loss", gamma,
          [penalty, gamma](const LossInputs& in) {
            return penalty && gamma > 0.0 ? (*penalty)(in.recurrent_weight()) : torch::Tensor();
          },
          std::move(key)};
}

LossTerm activity_term(std::function<torch::Tensor(const torch::Tensor&)> cost, double strength,
                       std::string batch_key) {
  return {"activity_cost", strength,
          [cost](const LossInputs& in) { return in.activity.defined() ? cost(in.activity) : torch::Tensor(); },
          std::move(batch_key)};
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

MembersLoss::MembersLoss(const std::vector<std::vector<LossTerm>>& member_terms)
    : members_(static_cast<int64_t>(member_terms.size())), single_(member_terms.size()) {
  std::map<std::pair<std::string, std::string>, size_t> group_of;
  for (int64_t k = 0; k < members_; ++k)
    for (const auto& term : member_terms[k]) {
      const auto [it, fresh] = group_of.emplace(std::make_pair(term.name, term.batch_key), groups_.size());
      // A member listing the same batched term twice keeps the second one to itself.
      if (term.batch_key.empty() || (!fresh && groups_[it->second].members.back() == k)) {
        single_[k].push_back(term);
        continue;
      }
      if (fresh) groups_.push_back({term});
      groups_[it->second].members.push_back(k);
      groups_[it->second].strengths.push_back(term.strength);
    }
  for (auto& g : groups_) {
    g.all_members = static_cast<int64_t>(g.members.size()) == members_;
    g.unit_strength = std::all_of(g.strengths.begin(), g.strengths.end(), [](double s) { return s == 1.0; });
  }
}

size_t MembersLoss::single_terms() const {
  size_t n = 0;
  for (const auto& terms : single_) n += terms.size();
  return n;
}

MembersLossValue MembersLoss::operator()(const LossInputs& in) {
  MembersLossValue v;
  auto add = [&](const std::string& name, const torch::Tensor& per_member) {
    auto& t = v.terms[name];
    t = t.defined() ? t + per_member : per_member;
    v.total = v.total.defined() ? v.total + per_member : per_member;
  };
  for (auto& g : groups_) {
    torch::Tensor cost;
    if (g.all_members) {
      cost = g.term.cost(in);
    } else {
      if (!g.index.defined()) g.index = torch::tensor(g.members, torch::kInt64).to(in.logits.device());
      const auto& idx = g.index;
      auto pick = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, idx) : t; };
      const auto logits = pick(in.logits), labels = pick(in.labels), activity = pick(in.activity);
      cost = g.term.cost({logits, labels, activity, [&] { return in.recurrent_weight().index_select(0, idx); }});
    }
    if (!cost.defined()) continue;
    if (!g.unit_strength) {
      if (!g.strength.defined() || g.strength.scalar_type() != cost.scalar_type())
        g.strength = torch::tensor(g.strengths, torch::kFloat64).to(cost.options());
      cost = cost * g.strength;
    }
    add(g.term.name, g.all_members ? cost : torch::zeros({members_}, cost.options()).index_add(0, g.index, cost));
  }
  // The terms without a batch key, member by member.
  std::map<std::string, std::vector<torch::Tensor>> single;  // name -> one scalar per member
  for (int64_t k = 0; k < members_; ++k) {
    if (single_[k].empty()) continue;
    auto part = [k](const torch::Tensor& t) { return t.defined() ? t[k] : t; };
    const auto logits = part(in.logits), labels = part(in.labels), activity = part(in.activity);
    const auto lv = compute_loss(single_[k], {logits, labels, activity, [&, k] { return in.recurrent_weight()[k]; }});
    for (const auto& [name, value] : lv.terms) {
      auto& values = single[name];
      values.resize(members_);
      values[k] = value.reshape({});
    }
  }
  for (auto& [name, values] : single) {
    torch::TensorOptions options;
    for (const auto& x : values)
      if (x.defined()) options = x.options();
    for (auto& x : values)
      if (!x.defined()) x = torch::zeros({}, options);
    add(name, torch::stack(values));
  }
  if (!v.total.defined()) v.total = torch::zeros({members_}, in.logits.options());
  return v;
}

}  // namespace sernn
