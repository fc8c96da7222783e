// The communicability function on CUDA (device squaring: no host read) against the CPU (host
// squaring), value and gradient, float64. Skips without CUDA (ctest label `gpu`).
#include <gtest/gtest.h>

#include "regularizers/communicability.h"

using namespace sernn;

namespace {
torch::Tensor grad_of(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& w0,
                      const torch::Tensor& g) {
  auto w = w0.clone().requires_grad_(true);
  (f(w) * g).sum().backward();
  return w.grad();
}
}  // namespace

TEST(Communicability, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(14);
  auto w = torch::randn({4, 40, 40}, torch::kFloat64);
  auto g = torch::randn(w.sizes(), torch::kFloat64);
  auto wc = w.to(torch::kCUDA);
  auto cpu = communicability(w, Strength::In);
  EXPECT_LT((communicability(wc, Strength::In).cpu() - cpu).abs().max().item<double>(), 1e-10);
  auto gc = grad_of([](const torch::Tensor& x) { return communicability(x, Strength::In); }, wc, g.to(torch::kCUDA));
  auto gh = grad_of([](const torch::Tensor& x) { return communicability(x, Strength::In); }, w, g);
  EXPECT_LT((gc.cpu() - gh).abs().max().item<double>(), 1e-10);
}
