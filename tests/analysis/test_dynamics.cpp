// Fixed points, Jacobians and spectra of rate networks (analysis/dynamics.h).
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/dynamics.h"

using namespace sernn;

TEST(Dynamics, LinearNetworkFixedPointAndEigenvaluesMatchTheClosedForm) {
  // Upper-triangular W: J = T^-1 (W - I) is triangular, eigenvalues (w_ii - 1) / tau_i.
  torch::manual_seed(1);
  const int64_t n = 6;
  auto w = torch::triu(torch::randn({n, n}, torch::kFloat64) * 0.4);
  auto b = torch::randn({n}, torch::kFloat64);
  auto tau = torch::rand({n}, torch::kFloat64) * 9 + 1;
  RateDynamics d{w, b, tau, "linear", {}};
  FixedPointOptions o;
  o.initial_states = 8;
  auto fps = find_fixed_points(d, o);
  ASSERT_EQ(fps.size(), 1u) << "a linear network has one fixed point";
  EXPECT_EQ(fps[0].hits, 8);
  auto expected_h = torch::linalg_solve(torch::eye(n, torch::kFloat64) - w, b.unsqueeze(1), true).squeeze(1);
  EXPECT_LT((fps[0].h - expected_h).abs().max().item<double>(), 1e-8);
  auto expected = std::get<0>(torch::sort((torch::diagonal(w) - 1) / tau, 0, /*descending=*/true));
  EXPECT_LT((torch::real(fps[0].eigenvalues) - expected).abs().max().item<double>(), 1e-10);
  EXPECT_LT(torch::imag(fps[0].eigenvalues).abs().max().item<double>(), 1e-10);
  EXPECT_NEAR(fps[0].spectral_edge, expected[0].item<double>(), 1e-10);
  EXPECT_EQ(fps[0].stable, expected[0].item<double>() < 0);
}

TEST(Dynamics, JacobianEqualsFiniteDifferencesOfTheSpeedField) {
  torch::manual_seed(2);
  const int64_t n = 7;
  for (const char* act : {"tanh", "relu"}) {
    RateDynamics d{torch::randn({n, n}, torch::kFloat64) * 0.5,
                   torch::randn({n}, torch::kFloat64) * 0.3,
                   torch::rand({n}, torch::kFloat64) * 4 + 1,
                   act,
                   {}};
    auto h = torch::randn({n}, torch::kFloat64);
    auto j = rate_jacobian(d, h);
    const double eps = 1e-6;
    for (int64_t k = 0; k < n; ++k) {
      auto e = torch::zeros({n}, torch::kFloat64);
      e[k] = eps;
      auto col = (speed_field(d, (h + e).unsqueeze(0)) - speed_field(d, (h - e).unsqueeze(0)))[0] / (2 * eps);
      EXPECT_LT((col - j.select(1, k)).abs().max().item<double>(), 1e-6) << act << " column " << k;
    }
  }
}

TEST(Dynamics, BalancedRandomEIMatrixFollowsTheCircularLaw) {
  // Entries of variance sigma^2 around E/I means that cancel in every row: the eigenvalues fill
  // a disc of radius sqrt(N) sigma (Girko; Rajan & Abbott 2006 for the balanced E/I case).
  const int64_t n = 1000;
  const double sigma = 0.7 / std::sqrt(static_cast<double>(n));
  const double mean_e = 2.0 / std::sqrt(static_cast<double>(n)), mean_i = -mean_e * 0.8 / 0.2;
  auto gen = at::detail::createCPUGenerator(3);
  auto w = random_ei_matrix(n, 0.8, mean_e, sigma, mean_i, sigma, 1.0, true, gen);
  EXPECT_NEAR(w.index({torch::indexing::Slice(), torch::indexing::Slice(0, 800)}).mean().item<double>(), mean_e, 1e-3);
  const double radius = torch::linalg_eigvals(w).abs().max().item<double>();
  EXPECT_NEAR(radius / (std::sqrt(static_cast<double>(n)) * sigma), 1.0, 0.04);
}

TEST(Dynamics, ReportOfATanhNetworkHasTheOriginAsFixedPoint) {
  torch::manual_seed(4);
  const int64_t n = 12;
  auto w = torch::randn({n, n}, torch::kFloat64) * (0.5 / std::sqrt(12.0));
  auto tau = torch::full({n}, 2.0, torch::kFloat64);
  RateDynamics d{w, torch::zeros({n}, torch::kFloat64), tau, "tanh", {}};
  FixedPointOptions o;
  o.initial_states = 16;
  auto j = dynamics_report(d, o, 5);
  ASSERT_GE(j["fixed_points"].size(), 1u);
  EXPECT_LT(j["fixed_points"][0]["norm"].get<double>(), 1e-6);  // weak coupling: only h = 0
  const auto expected =
      torch::real(torch::linalg_eigvals((w - torch::eye(n, torch::kFloat64)) / 2.0)).max().item<double>();
  EXPECT_NEAR(j["spectral_edge"].get<double>(), expected, 1e-9);
  EXPECT_TRUE(j["stable"].get<bool>());
  EXPECT_EQ(j["jacobian_eigenvalues"].size(), static_cast<size_t>(n));
  EXPECT_EQ(j["random_ensemble"]["draws"].get<int64_t>(), 5);
  EXPECT_NEAR(j["jacobian_stats"]["tau_mean"].get<double>(), 2.0, 1e-12);
}
