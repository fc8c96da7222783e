// Hop-length decomposition of input -> output pathways: a chain with a known answer, and
// random matrices against explicit matrix powers.
#include <gtest/gtest.h>

#include "analysis/pathways.h"

using namespace sernn;

TEST(Pathways, ChainHasAllItsMassAtTwoHops) {
  auto w = torch::zeros({3, 3}, torch::kFloat64);
  w[1][0] = -2.0;  // 0 -> 1 (signs do not matter: magnitudes)
  w[2][1] = 3.0;   // 1 -> 2
  auto w_in = torch::zeros({3, 1}, torch::kFloat64);
  w_in[0][0] = 1.0;
  auto w_out = torch::zeros({1, 3}, torch::kFloat64);
  w_out[0][2] = 0.5;
  // A chain is nilpotent (rho = 0): no normalisation, the raw products.
  const auto j = pathway_hops(w_in, w, w_out, 4);
  EXPECT_EQ(j["rho_abs"].get<double>(), 0.0);
  const auto mass = j["mass"].get<std::vector<double>>();
  ASSERT_EQ(mass.size(), 5u);
  EXPECT_DOUBLE_EQ(mass[2], 0.5 * 3.0 * 2.0);
  for (int k : {0, 1, 3, 4}) EXPECT_EQ(mass[k], 0.0) << k;
  EXPECT_DOUBLE_EQ(j["mean_hops"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["share"][2].get<double>(), 1.0);
  EXPECT_EQ(j["tail_share"].get<double>(), 0.0);
}

TEST(Pathways, MatchesExplicitPowersAndGroupsAddUp) {
  torch::manual_seed(3);
  const int64_t n = 12, inputs = 6, classes = 3, hops = 5;
  const auto w = torch::randn({n, n}, torch::kFloat64) * 0.3;
  const auto w_in = torch::randn({n, inputs}, torch::kFloat64);
  const auto w_out = torch::randn({classes, n}, torch::kFloat64);
  const auto groups = torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64);
  const auto j =
      pathway_hops(w_in.to(torch::kFloat32), w.to(torch::kFloat32), w_out.to(torch::kFloat32), hops, groups, 0.7);
  // Perron root of |W| by power iteration (independent of the eigen-solver used inside).
  auto v = torch::ones({n, 1}, torch::kFloat64);
  double rho = 0;
  for (int it = 0; it < 2000; ++it) {
    const auto next = w.abs().matmul(v);
    rho = next.norm().item<double>() / v.norm().item<double>();
    v = next / next.norm();
  }
  EXPECT_NEAR(j["rho_abs"].get<double>(), rho, 1e-5 * rho);
  const auto a = w.abs() * (0.7 / rho);
  double total = 0, weighted = 0;
  for (int64_t k = 0; k <= hops; ++k) {
    const auto p = torch::matmul(torch::matmul(w_out.abs(), torch::linalg_matrix_power(a, k)), w_in.abs());
    const double m = p.sum().item<double>();
    EXPECT_NEAR(j["mass"][k].get<double>(), m, 1e-4 * m) << k;
    double g_sum = 0;
    for (int g = 0; g < 3; ++g) {
      const double gm = p.slice(1, 2 * g, 2 * g + 2).sum().item<double>();
      EXPECT_NEAR(j["groups"][g]["mass"][k].get<double>(), gm, 1e-4 * gm) << k << " " << g;
      g_sum += j["groups"][g]["mass"][k].get<double>();
    }
    EXPECT_NEAR(g_sum, j["mass"][k].get<double>(), 1e-9 * m);
    total += m, weighted += static_cast<double>(k) * m;
  }
  EXPECT_NEAR(j["mean_hops"].get<double>(), weighted / total, 1e-6);
  EXPECT_THROW(pathway_hops(w_in, w, w_out.t(), 3), c10::Error);
}
