#include <gtest/gtest.h>

#include "regularizers/communicability.h"

using namespace sernn;

namespace {
torch::Tensor random_w(std::vector<int64_t> shape, double density, uint64_t seed) {
  torch::manual_seed(seed);
  auto w = torch::randn(shape, torch::kFloat64);
  if (density < 1.0) w = w * (torch::rand(shape, torch::kFloat64) < density).to(torch::kFloat64);
  return w;
}

// Gradient of sum(C * G) w.r.t. W, for a fixed random cotangent G.
torch::Tensor grad_of(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& w0,
                      const torch::Tensor& g) {
  auto w = w0.clone().requires_grad_(true);
  (f(w) * g).sum().backward();
  return w.grad();
}

void expect_matches_matrix_exp(const torch::Tensor& w, Strength s) {
  auto g = torch::randn(w.sizes(), torch::kFloat64);
  auto ours = communicability(w, s), ref = communicability_autograd_reference(w, s);
  EXPECT_LT((ours - ref).abs().max().item<double>(), 1e-10);
  auto go = grad_of([s](const torch::Tensor& x) { return communicability(x, s); }, w, g);
  auto gr = grad_of([s](const torch::Tensor& x) { return communicability_autograd_reference(x, s); }, w, g);
  EXPECT_TRUE(torch::isfinite(go).all().item<bool>());
  EXPECT_LT((go - gr).abs().max().item<double>(), 1e-10);
}
}  // namespace

TEST(Communicability, ExpmMatchesLinalgMatrixExp) {
  for (double scale : {0.1, 1.0, 5.0, 40.0}) {
    auto x = random_w({6, 6}, 1.0, 3) * scale;
    auto ref = torch::linalg_matrix_exp(x);
    EXPECT_LT(((expm(x) - ref).abs() / ref.abs().max()).max().item<double>(), 1e-13) << "scale " << scale;
  }
}

TEST(Communicability, ExpmGradientMatchesFiniteDifferences) {
  auto x0 = random_w({5, 5}, 1.0, 4) * 1.5;
  auto g = random_w({5, 5}, 1.0, 5);
  auto analytic = grad_of([](const torch::Tensor& x) { return expm(x); }, x0, g);
  const double h = 1e-6;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      auto xp = x0.clone(), xm = x0.clone();
      xp[i][j] += h;
      xm[i][j] -= h;
      const double fd = ((expm(xp) - expm(xm)) * g).sum().item<double>() / (2 * h);
      EXPECT_NEAR(analytic[i][j].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd)));
    }
}

TEST(Communicability, GradientMatchesFiniteDifferences) {
  for (Strength s : {Strength::In, Strength::Out}) {
    auto w0 = random_w({6, 6}, 1.0, 6);
    auto g = random_w({6, 6}, 1.0, 7);
    auto analytic = grad_of([s](const torch::Tensor& x) { return communicability(x, s); }, w0, g);
    const double h = 1e-6;
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        auto wp = w0.clone(), wm = w0.clone();
        wp[i][j] += h;
        wm[i][j] -= h;
        const double fd = ((communicability(wp, s) - communicability(wm, s)) * g).sum().item<double>() / (2 * h);
        EXPECT_NEAR(analytic[i][j].item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd))) << i << "," << j;
      }
  }
}

TEST(Communicability, MatchesAutogradMatrixExpRandom) {
  for (Strength s : {Strength::In, Strength::Out}) expect_matches_matrix_exp(random_w({20, 20}, 1.0, 8), s);
}

TEST(Communicability, MatchesAutogradMatrixExpSparse) {
  for (Strength s : {Strength::In, Strength::Out}) expect_matches_matrix_exp(random_w({30, 30}, 0.1, 9), s);
}

TEST(Communicability, ZeroRowsAndColumnsStayFinite) {
  auto w = random_w({10, 10}, 1.0, 10);
  w[3].zero_();            // neuron 3 receives nothing (zero in-strength)
  w.select(1, 7).zero_();  // neuron 7 sends nothing (zero out-strength)
  for (Strength s : {Strength::In, Strength::Out}) expect_matches_matrix_exp(w, s);
  auto c = communicability(w, Strength::In);
  EXPECT_DOUBLE_EQ(c[3][3].item<double>(), 1.0);
  EXPECT_EQ(c[3].abs().sum().item<double>(), 1.0) << "an isolated row is the identity's";
  // All-zero matrix: C = I, gradient finite.
  expect_matches_matrix_exp(torch::zeros({4, 4}, torch::kFloat64), Strength::Out);
}

TEST(Communicability, BatchedEqualsOneAtATime) {
  auto w = random_w({4, 12, 12}, 0.5, 11);
  for (Strength s : {Strength::In, Strength::Out}) {
    expect_matches_matrix_exp(w, s);
    auto c = communicability(w, s);
    for (int k = 0; k < 4; ++k) EXPECT_LT((c[k] - communicability(w[k], s)).abs().max().item<double>(), 1e-12);
  }
}

TEST(Communicability, DetachedEqualsFullValueWithoutGraph) {
  auto w = random_w({16, 16}, 1.0, 12).requires_grad_(true);
  auto d = communicability_detached(w, Strength::In);
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(torch::allclose(d, communicability(w, Strength::In), 0, 1e-14));
}

TEST(Communicability, Float32AgreesWithFloat64) {
  auto w = random_w({3, 50, 50}, 1.0, 13);
  auto c32 = communicability(w.to(torch::kFloat32), Strength::Out);
  EXPECT_EQ(c32.scalar_type(), torch::kFloat32);
  EXPECT_LT((c32.to(torch::kFloat64) - communicability(w, Strength::Out)).abs().max().item<double>(), 1e-5);
}

TEST(Communicability, DeviceSquaringEqualsHostSquaring) {
  // Squaring::Device (no host read; the CUDA default) against Squaring::Host (exact count read
  // back): same value and gradient for no squaring, a few, and many, on the CPU.
  for (double scale : {0.05, 2.0, 60.0}) {
    auto x = random_w({3, 12, 12}, 1.0, 8) * scale;
    auto g = torch::randn(x.sizes(), torch::kFloat64);
    auto host = expm(x, Squaring::Host), dev = expm(x, Squaring::Device);
    EXPECT_LT(((dev - host).abs() / host.abs().max()).max().item<double>(), 1e-13) << "scale " << scale;
    auto gh = grad_of([](const torch::Tensor& w) { return expm(w, Squaring::Host); }, x, g);
    auto gd = grad_of([](const torch::Tensor& w) { return expm(w, Squaring::Device); }, x, g);
    EXPECT_LT(((gd - gh).abs() / gh.abs().max()).max().item<double>(), 1e-12) << "scale " << scale;
  }
  for (auto s : {Strength::In, Strength::Out}) {
    auto w = random_w({2, 15, 15}, 0.4, 9);
    auto g = torch::randn(w.sizes(), torch::kFloat64);
    EXPECT_LT(
        (communicability(w, s, Squaring::Device) - communicability(w, s, Squaring::Host)).abs().max().item<double>(),
        1e-12);
    EXPECT_LT((communicability_detached(w, s, Squaring::Device) - communicability_detached(w, s, Squaring::Host))
                  .abs()
                  .max()
                  .item<double>(),
              1e-12);
    auto gh = grad_of([s](const torch::Tensor& x) { return communicability(x, s, Squaring::Host); }, w, g);
    auto gd = grad_of([s](const torch::Tensor& x) { return communicability(x, s, Squaring::Device); }, w, g);
    EXPECT_LT((gd - gh).abs().max().item<double>(), 1e-12);
  }
}
