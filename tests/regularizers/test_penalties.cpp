#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"
#include "core/geometry.h"
#include "regularizers/penalties.h"

using namespace sernn;

namespace {
// Hand-computed example. W (row = post, column = pre) is strictly lower triangular, so the
// normalised matrix M is nilpotent (M^2 = 0 here) and expm(M) = I + M exactly.
//   W = [[0, 0, 0], [1, 0, 0], [4, -2, 0]]
// Coordinates (0,0,0), (3,4,0), (0,0,1): D10 = 5, D20 = 1, D21 = sqrt(26).
// Out-strength (column sums) s = (5, 2, 0) -> d = (1/sqrt5, 1/sqrt2, 0): only M10 = 1/sqrt10 survives
//   (neuron 2 has zero out-strength: d2 = 0 by convention).
// In-strength (row sums) s = (0, 1, 6) -> d = (0, 1, 1/sqrt6): only M21 = 2/sqrt6 survives.
torch::Tensor hand_w() { return torch::tensor({0., 0., 0., 1., 0., 0., 4., -2., 0.}, torch::kFloat64).view({3, 3}); }
torch::Tensor hand_d() {
  return distance_matrix(torch::tensor({0., 0., 0., 3., 4., 0., 0., 0., 1.}, torch::kFloat64).view({3, 3}));
}
double value(const std::string& kind, Strength s, CommGrad g = CommGrad::Full) {
  WiringPenaltyOptions o;
  o.distance = hand_d();
  o.strength = s;
  o.comm_grad = g;
  return (*make_penalty(kind, o, 0.5))(hand_w()).item<double>();
}
}  // namespace

TEST(Penalties, HandComputedL1) { EXPECT_DOUBLE_EQ(value("l1", Strength::Out), 7.0); }

TEST(Penalties, HandComputedSpace) {
  EXPECT_NEAR(value("space", Strength::Out), 1 * 5 + 4 * 1 + 2 * std::sqrt(26.0), 1e-12);
}

TEST(Penalties, HandComputedCommOutStrength) {
  EXPECT_NEAR(value("comm", Strength::Out), 1.0 / std::sqrt(10.0), 1e-12);
  EXPECT_NEAR(value("comm", Strength::Out, CommGrad::Detached), 1.0 / std::sqrt(10.0), 1e-12);
}

TEST(Penalties, HandComputedCommInStrength) {
  EXPECT_NEAR(value("comm", Strength::In), 2.0 * 2.0 / std::sqrt(6.0), 1e-12);
}

TEST(Penalties, HandComputedSeRNN) {
  EXPECT_NEAR(value("sernn", Strength::Out), 5.0 / std::sqrt(10.0), 1e-12);
  EXPECT_NEAR(value("sernn", Strength::In), 2.0 * std::sqrt(26.0) * 2.0 / std::sqrt(6.0), 1e-12);
}

TEST(Penalties, CommsFactorPowersOffDiagonalCommunicability) {
  WiringPenaltyOptions o;
  o.distance = hand_d();
  o.strength = Strength::In;
  o.comms_factor = 2.0;
  EXPECT_NEAR((*make_penalty("comm", o, 0.5))(hand_w()).item<double>(), 2.0 * (4.0 / 6.0), 1e-12);
}

TEST(Penalties, CommsFactorBelowOneKeepsGradientsFiniteWhereCommunicabilityIsZero) {
  // hand_w is a DAG: C is 0 above the diagonal, where pow(., 0.5) has an infinite derivative.
  WiringPenaltyOptions o;
  o.distance = hand_d();
  o.strength = Strength::In;
  o.comms_factor = 0.5;
  auto w = hand_w().clone().requires_grad_(true);
  auto p = (*make_penalty("comm", o, 0.5))(w);
  const auto c = communicability(hand_w(), Strength::In) * (1.0 - torch::eye(3, torch::kFloat64));
  EXPECT_NEAR(p.item<double>(), (hand_w().abs() * c.sqrt()).sum().item<double>(), 1e-12);
  p.backward();
  EXPECT_TRUE(torch::isfinite(w.grad()).all().item<bool>()) << w.grad();
}

TEST(Penalties, HandComputedResolvent) {
  // Row-normalised Â: row 1 = (1, 0, 0), row 2 = (4/6, 2/6, 0). With alpha = 0.5,
  // R = I + aÂ + (aÂ)^2 (nilpotent): R10 = 0.5, R20 = 0.5*4/6 + 0.25*(2/6)*1, R21 = 0.5*2/6.
  const double r10 = 0.5, r20 = 0.5 * 4 / 6 + 0.25 * (2.0 / 6.0), r21 = 0.5 * 2 / 6;
  WiringPenaltyOptions o;
  EXPECT_NEAR((*make_penalty("resolvent", o, 0.5))(hand_w()).item<double>(), 1 * r10 + 4 * r20 + 2 * r21, 1e-12);
  auto hops = resolvent_hops(hand_w(), 0.5, 3);
  EXPECT_NEAR(hops[1][2][0].item<double>(), 0.25 * (2.0 / 6.0), 1e-12);
  EXPECT_EQ(hops[2].abs().sum().item<double>(), 0.0) << "no paths of length 3 in a 3-node DAG";
}

TEST(Penalties, BatchedWeightsGiveOneValuePerNetwork) {
  WiringPenaltyOptions o;
  o.distance = distance_matrix(grid_coordinates({2, 2, 2}));
  o.kind = "sernn";
  WiringPenalty p(o);
  torch::manual_seed(0);
  auto w = torch::randn({3, 8, 8}, torch::kFloat64);
  auto batched = p(w);
  ASSERT_EQ(batched.sizes(), (std::vector<int64_t>{3}));
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(batched[k].item<double>(), p(w[k]).item<double>(), 1e-12);
}

TEST(Penalties, UnknownNameListsKnownOnes) {
  try {
    make_penalty("serrn", WiringPenaltyOptions{}, 0.5);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("known: none, l1, space, comm, sernn, resolvent"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(make_penalty("none", WiringPenaltyOptions{}, 0.5), nullptr);
}

TEST(Penalties, DetachedGradientIsSignTimesDistanceTimesC) {
  // DESIGN §2: the spiking reference's gradient is gamma * sign(W) * D * C with C constant.
  torch::manual_seed(1);
  WiringPenaltyOptions o;
  o.distance = distance_matrix(grid_coordinates({2, 2, 2}));
  o.comm_grad = CommGrad::Detached;
  o.strength = Strength::In;
  WiringPenalty p([&] {
    auto x = o;
    x.kind = "sernn";
    return x;
  }());
  auto w = torch::randn({8, 8}, torch::kFloat64).requires_grad_(true);
  p(w).backward();
  auto c = communicability_detached(w, Strength::In) * (1 - torch::eye(8, torch::kFloat64));
  EXPECT_TRUE(torch::allclose(w.grad(), w.sign() * o.distance * c, 1e-12, 1e-12));
}

TEST(ActivityCost, ClosedFormsAndGradients) {
  auto a = torch::tensor({{0.0, 0.5, 2.0}, {0.2, 0.1, 1.0}}, torch::kFloat64).requires_grad_(true);
  // l2: mean over the batch of the sum of squares.
  EXPECT_NEAR(activity_cost(a, "l2", 0, 0).item<double>(), ((0.25 + 4.0) + (0.04 + 0.01 + 1.0)) / 2, 1e-12);
  // band [0.1, 1.0]: below 0.1 and above 1.0 cost, squared distance to the band.
  auto c = activity_cost(a, "band", 0.1, 1.0);
  EXPECT_NEAR(c.item<double>(), (0.01 + 1.0) / 2, 1e-12);
  c.backward();
  auto expected = torch::tensor({{-0.1, 0.0, 1.0}, {0.0, 0.0, 0.0}}, torch::kFloat64);
  EXPECT_LT((a.grad() - expected).abs().max().item<double>(), 1e-12);
  EXPECT_THROW(activity_cost(a, "l3", 0, 1), InputError);
}

TEST(ActivityCost, MembersStackedGiveOneCostEach) {
  // [K, B, N] -> [K]: each member's cost as on its own [B, N].
  torch::manual_seed(5);
  const auto a = torch::rand({3, 4, 5}, torch::kFloat64) * 2;
  for (const std::string kind : {"l2", "band"}) {
    const auto each = activity_cost(a, kind, 0.3, 1.2);
    ASSERT_EQ(each.sizes(), torch::IntArrayRef({3}));
    for (int64_t k = 0; k < 3; ++k)
      EXPECT_NEAR(each[k].item<double>(), activity_cost(a[k], kind, 0.3, 1.2).item<double>(), 1e-12) << kind;
  }
  EXPECT_THROW(activity_cost(a.flatten(), "l2", 0, 0), c10::Error);
}
