// MembersLoss (core/loss.h): an ensemble's loss computed with its batchable terms stacked equals
// each member's own compute_loss, value and gradient, whatever mix of shared, separate and
// unbatchable terms the members have.
#include <gtest/gtest.h>

#include "core/geometry.h"
#include "core/loss.h"
#include "regularizers/penalties.h"

using namespace sernn;

namespace {
constexpr int64_t K = 5, B = 6, C = 3, N = 8;

std::shared_ptr<const Penalty> sernn_penalty(const torch::Tensor& coords) {
  WiringPenaltyOptions o;
  o.kind = "sernn";
  o.distance = distance_matrix(coords);
  return make_penalty("sernn", o, 0.0);
}

/// Five members: a shared seRNN penalty at three gammas, one at gamma 0 (no penalty), one with a
/// penalty object of its own; a batchable activity cost on members 0-3 and an unbatchable one
/// (no key) on member 4.
std::vector<std::vector<LossTerm>> member_terms() {
  const auto coords = torch::rand({N, 3}, torch::kFloat64);
  const auto shared = sernn_penalty(coords), own = sernn_penalty(coords);
  auto l2 = [](const torch::Tensor& a) { return activity_cost(a, "l2", 0, 0); };
  const std::vector<double> gammas{0.1, 0.0, 0.3, 0.2, 0.05};
  std::vector<std::vector<LossTerm>> terms(K);
  for (int64_t k = 0; k < K; ++k) {
    terms[k] = {task_loss_term(), penalty_term(k == 3 ? own : shared, gammas[k])};
    terms[k].push_back(k < 4 ? activity_term(l2, 0.5 + k, "l2") : activity_term(l2, 2.0));
  }
  return terms;
}
}  // namespace

TEST(Loss, MeanCrossEntropyPerMemberEqualsEachMembersOwn) {
  torch::manual_seed(3);
  const auto logits = torch::randn({K, B, C}, torch::kFloat64);
  const auto labels = torch::randint(C, {K, B}, torch::kInt64);
  const auto each = mean_cross_entropy(logits, labels);
  ASSERT_EQ(each.sizes(), torch::IntArrayRef({K}));
  for (int64_t k = 0; k < K; ++k) {
    // Independent reference: -log softmax at the label, averaged.
    const auto lp = torch::log_softmax(logits[k], 1);
    double ref = 0;
    for (int64_t b = 0; b < B; ++b) ref -= lp[b][labels[k][b].item<int64_t>()].item<double>();
    EXPECT_NEAR(each[k].item<double>(), ref / B, 1e-12);
  }
}

TEST(Loss, MembersLossEqualsEachMembersComputeLoss) {
  torch::manual_seed(4);
  const auto terms = member_terms();
  MembersLoss loss(terms);
  // task (all), the shared penalty (members 0, 2, 4), member 3's own, the keyed activity (0-3);
  // member 1's gamma-0 penalty and member 4's unkeyed activity cost member by member.
  EXPECT_EQ(loss.batched_terms(), 4u);
  EXPECT_EQ(loss.single_terms(), 2u);

  const auto logits = torch::randn({K, B, C}, torch::kFloat64).requires_grad_();
  const auto labels = torch::randint(C, {K, B}, torch::kInt64);
  const auto activity = torch::rand({K, B, N}, torch::kFloat64).requires_grad_();
  const auto weight = (torch::randn({K, N, N}, torch::kFloat64) * 0.3).requires_grad_();
  const auto v = loss({logits, labels, activity, [&] { return weight; }});
  ASSERT_EQ(v.total.sizes(), torch::IntArrayRef({K}));
  const auto grads = torch::autograd::grad({v.total.sum()}, {logits, activity, weight});

  for (int64_t k = 0; k < K; ++k) {
    const auto lk = logits[k].detach().requires_grad_(), ak = activity[k].detach().requires_grad_();
    const auto wk = weight[k].detach().requires_grad_();
    const auto labels_k = labels[k];
    const auto ref = compute_loss(terms[k], {lk, labels_k, ak, [&] { return wk; }});
    EXPECT_NEAR(v.total[k].item<double>(), ref.total.item<double>(), 1e-12) << "member " << k;
    for (const auto& [name, value] : ref.terms)
      EXPECT_NEAR(v.terms.at(name)[k].item<double>(), value.item<double>(), 1e-12) << name << ", member " << k;
    // (Member 1's loss does not read its weight: an undefined gradient, i.e. zero.)
    const auto ref_grads = torch::autograd::grad({ref.total}, {lk, ak, wk}, {}, false, false, /*allow_unused=*/true);
    for (size_t i = 0; i < ref_grads.size(); ++i) {
      const auto r = ref_grads[i].defined() ? ref_grads[i] : torch::zeros_like(grads[i][k]);
      EXPECT_TRUE(torch::allclose(grads[i][k], r, 1e-10, 1e-12)) << "gradient " << i << ", member " << k;
    }
    EXPECT_EQ(ref_grads[2].defined(), k != 1);
  }
  // Member 1 has no penalty: its reg_loss is 0 and its weight gets no gradient.
  EXPECT_EQ(v.terms.at("reg_loss")[1].item<double>(), 0.0);
  EXPECT_EQ(grads[2][1].abs().max().item<double>(), 0.0);
}
