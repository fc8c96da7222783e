// The communicability function on CUDA (device squaring: no host read; graphed) against the CPU
// (host squaring), value and gradient, float64; and the graphed path against eager. Skips without
// CUDA (ctest label `gpu`).
#include <gtest/gtest.h>

#include "core/graphed.h"
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

// The graphed path (core/graphed.h; the CUDA default) against the same functions run eagerly on
// CUDA: values and gradients, both strengths, float32 and float64; calls with new weights reuse
// the captured graph; two forwards before their backwards keep their own saved tensors.
TEST(Communicability, CudaGraphsEqualEager) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (auto dtype : {torch::kFloat64, torch::kFloat32})
    for (auto s : {Strength::In, Strength::Out}) {
      torch::manual_seed(15);
      auto opts = torch::TensorOptions().dtype(dtype).device(torch::kCUDA);
      auto w1 = torch::randn({3, 30, 30}, opts) * 0.3, w2 = torch::randn({3, 30, 30}, opts);
      auto g = torch::randn({3, 30, 30}, opts);
      auto f = [s](const torch::Tensor& x) { return communicability(x, s); };
      set_cuda_graphs(false);
      const auto e1 = f(w1), e2 = f(w2), ed = communicability_detached(w2, s);
      const auto eg1 = grad_of(f, w1, g), eg2 = grad_of(f, w2, g);
      set_cuda_graphs(true);
      const double tol = dtype == torch::kFloat64 ? 1e-12 : 1e-5;
      auto close = [&](const torch::Tensor& a, const torch::Tensor& b) {
        return ((a - b).abs().max() / b.abs().max()).item<double>() < tol;
      };
      EXPECT_TRUE(close(f(w1), e1));
      EXPECT_TRUE(close(f(w2), e2)) << "a second call reads the new weights";
      EXPECT_TRUE(close(communicability_detached(w2, s), ed));
      EXPECT_TRUE(close(grad_of(f, w1, g), eg1));
      auto a = w1.clone().requires_grad_(true), b = w2.clone().requires_grad_(true);
      auto ca = f(a), cb = f(b);  // both forwards first: the second replay must not clobber a's
      (ca * g).sum().backward();
      (cb * g).sum().backward();
      EXPECT_TRUE(close(a.grad(), eg1));
      EXPECT_TRUE(close(b.grad(), eg2));
    }
}
