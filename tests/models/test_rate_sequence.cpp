// The fused rate sequence (models/rate_sequence.h) against a naive per-step implementation written
// here from the equations, with LibTorch autograd; and RateRNN's fast path against its reference.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/parallel.h"

#include "models/rate_rnn.h"
#include "models/rate_sequence.h"

using namespace sernn;

namespace {

torch::Tensor naive(const torch::Tensor& drive, const torch::Tensor& w, const torch::Tensor& alpha,
                    const torch::Tensor& noise, bool tanh) {
  const int64_t T = drive.size(0);
  auto h = torch::zeros_like(drive[0]);
  std::vector<torch::Tensor> hs;
  for (int64_t t = 0; t < T; ++t) {
    auto z = drive[t] + torch::matmul(h, w.t());
    auto a = tanh ? torch::tanh(z) : torch::relu(z);
    h = h + alpha * (a - h);
    if (noise.defined()) h = h + noise[t];
    hs.push_back(h);
  }
  return torch::stack(hs);
}

struct Grads {
  torch::Tensor h, drive, w, alpha, scale;
};

// Value and gradients of sum(h * G) for the fused or the naive function. The noise is
// xi * scale with `scale` a differentiable [N] (as sigma sqrt(alpha_i) in RateRNN).
Grads run(bool fused, const torch::Tensor& drive0, const torch::Tensor& w0, const torch::Tensor& alpha0,
          const torch::Tensor& xi, const torch::Tensor& scale0, const torch::Tensor& g, bool tanh) {
  auto drive = drive0.clone().requires_grad_(), w = w0.clone().requires_grad_();
  auto alpha = alpha0.clone().requires_grad_(alpha0.dim() == 1);
  auto scale = scale0.defined() ? scale0.clone().requires_grad_() : torch::Tensor();
  const auto noise = xi.defined() ? xi * scale : torch::Tensor();
  auto h = fused ? rate_network(drive, w, alpha, noise, tanh) : naive(drive, w, alpha, noise, tanh);
  (h * g).sum().backward();
  return {h.detach(), drive.grad(), w.grad(), alpha.dim() == 1 ? alpha.grad() : torch::Tensor(),
          scale.defined() ? scale.grad() : torch::Tensor()};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(RateSequence, FusedEqualsNaiveValueAndAllGradients) {
  torch::manual_seed(3);
  const int64_t T = 25, B = 20, N = 12;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto drive = torch::randn({T, B, N}, opts) * 0.5, w = torch::randn({N, N}, opts) * 0.4;
  auto g = torch::randn({T, B, N}, opts);
  auto per_neuron = torch::rand({N}, opts) * 0.8 + 0.1;
  auto xi = torch::randn({T, B, N}, opts), scale = torch::rand({N}, opts) * 0.2;
  struct Case {
    const char* name;
    torch::Tensor alpha;
    bool tanh, noisy;
  };
  for (const auto& c : {Case{"alpha 1, relu", torch::tensor(1.0, opts), false, false},
                        Case{"shared alpha, tanh", torch::tensor(0.3, opts), true, false},
                        Case{"per-neuron alpha, relu, noise", per_neuron, false, true},
                        Case{"per-neuron alpha, tanh, noise", per_neuron, true, true}}) {
    const auto x = c.noisy ? xi : torch::Tensor(), s = c.noisy ? scale : torch::Tensor();
    const auto f = run(true, drive, w, c.alpha, x, s, g, c.tanh), n = run(false, drive, w, c.alpha, x, s, g, c.tanh);
    EXPECT_GT(f.h.abs().sum().item<double>(), 1.0) << c.name;
    // float64 rounding relative to the states' scale: the naive path's GEMMs sum as the BLAS
    // kernel does (MKL on an AMD EPYC with pip's torch: 1.14e-12 at |h| up to a few units).
    EXPECT_LT(max_diff(f.h, n.h), 1e-12 * std::max(1.0, n.h.abs().max().item<double>())) << c.name;
    EXPECT_LT(max_diff(f.drive, n.drive), 1e-11) << c.name;
    EXPECT_LT(max_diff(f.w, n.w), 1e-10) << c.name;
    if (c.alpha.dim() == 1) EXPECT_LT(max_diff(f.alpha, n.alpha), 1e-10) << c.name;
    if (c.noisy) EXPECT_LT(max_diff(f.scale, n.scale), 1e-10) << c.name;
  }
}

TEST(RateSequence, ThreadCountDoesNotChangeTheResult) {
  // Rows are split among threads; each row's arithmetic is the same whatever the split.
  torch::manual_seed(4);
  auto drive = torch::randn({30, 64, 16}), w = torch::randn({16, 16}) * 0.3, g = torch::randn({30, 64, 16});
  const int64_t before = parallel_threads();
  std::vector<Grads> out;
  for (int64_t threads : {1, 2, 3}) {
    set_parallel_threads(threads);  // sernn's pool runs the rows (core/parallel.h)
    out.push_back(run(true, drive, w, torch::tensor(1.0), {}, {}, g, false));
  }
  set_parallel_threads(before);
  for (size_t i = 1; i < out.size(); ++i) {
    EXPECT_LT(max_diff(out[i].h, out[0].h), 1e-5 * std::max(1.0, out[0].h.abs().max().item<double>()));
    EXPECT_LT(max_diff(out[i].w, out[0].w), 1e-5 * std::max(1.0, out[0].w.abs().max().item<double>()));
  }
}

TEST(RateSequence, MembersEqualSeparateCalls) {
  // K networks in one call (RateEnsemble's CPU path) against K separate calls, value and the
  // drive, weight and noise gradients, float64; with 2 threads, 3 members run one per thread and
  // 1 member splits its rows: both partitions.
  torch::manual_seed(6);
  const int64_t T = 20, B = 10, N = 9;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t before = parallel_threads();
  set_parallel_threads(2);
  for (int64_t K : {3, 1})
    for (double a : {1.0, 0.4}) {
      auto drive = torch::randn({K, T, B, N}, opts) * 0.5, w = torch::randn({K, N, N}, opts) * 0.4;
      auto noise = torch::randn({K, T, B, N}, opts) * 0.1, g = torch::randn({K, T, B, N}, opts);
      auto d = drive.clone().requires_grad_(), ww = w.clone().requires_grad_(), nz = noise.clone().requires_grad_();
      const auto alpha = torch::tensor(a, opts);
      auto h = rate_network(d, ww, alpha, nz, a != 1.0);
      ASSERT_EQ(h.sizes(), drive.sizes());
      (h * g).sum().backward();
      for (int64_t k = 0; k < K; ++k) {
        auto dk = drive[k].clone().requires_grad_(), wk = w[k].clone().requires_grad_();
        auto nk = noise[k].clone().requires_grad_();
        auto hk = rate_network(dk, wk, alpha, nk, a != 1.0);
        (hk * g[k]).sum().backward();
        const std::string what =
            "K=" + std::to_string(K) + " alpha " + std::to_string(a) + " member " + std::to_string(k);
        EXPECT_LT(max_diff(h[k].detach(), hk.detach()), 1e-12) << what;
        EXPECT_LT(max_diff(d.grad()[k], dk.grad()), 1e-11) << what;
        EXPECT_LT(max_diff(ww.grad()[k], wk.grad()), 1e-10) << what;
        EXPECT_LT(max_diff(nz.grad()[k], nk.grad()), 1e-11) << what;
      }
    }
  set_parallel_threads(before);
  // Only the last state (RateEnsemble's readout): the same value, and the gradients of a loss on
  // h_{T-1} alone.
  auto drive = torch::randn({3, T, B, N}, opts), w = torch::randn({3, N, N}, opts) * 0.4;
  auto g = torch::randn({3, B, N}, opts);
  auto d1 = drive.clone().requires_grad_(), w1 = w.clone().requires_grad_();
  auto d2 = drive.clone().requires_grad_(), w2 = w.clone().requires_grad_();
  const auto alpha = torch::tensor(0.7, opts);
  auto last = rate_network_last(d1, w1, alpha, true);
  auto full = rate_network(d2, w2, alpha, {}, true);
  EXPECT_LT(max_diff(last.detach(), full.select(1, T - 1).detach()), 1e-15);
  (last * g).sum().backward();
  (full.select(1, T - 1) * g).sum().backward();
  EXPECT_LT(max_diff(d1.grad(), d2.grad()), 1e-13);
  EXPECT_LT(max_diff(w1.grad(), w2.grad()), 1e-12);
  EXPECT_GT(d1.grad().abs().sum().item<double>(), 1.0);
  EXPECT_THROW(rate_network(torch::zeros({2, 3, 4, 5}), torch::zeros({2, 5, 5}), torch::ones({5}), {}, false),
               c10::Error)
      << "per-neuron alpha is for single networks";
}

TEST(RateSequence, RateRnnFastPathEqualsReferencePath) {
  // RateRNN's default (fused) path against its per-step reference, float64, with per-neuron
  // learnable tau and Dale's law: the same forward and every parameter gradient.
  torch::manual_seed(5);
  RateRNNOptions o(8, 20, 4);
  o.alpha(0.25).learn_tau(true).tanh(true);
  o.dale().enabled = true;
  RateRNN fast(o), ref(RateRNNOptions(o).reference(true));
  fast->to(torch::kFloat64);
  ref->to(torch::kFloat64);
  {
    torch::NoGradGuard ng;
    for (auto& p : fast->named_parameters()) ref->named_parameters()[p.key()].copy_(p.value());
    for (auto& b : fast->named_buffers()) ref->named_buffers()[b.key()].copy_(b.value());  // Dale signs, mask
  }
  auto x = torch::rand({40, 6, 8}, torch::kFloat64);
  auto of = fast->run(x, false), orf = ref->run(x, false);
  EXPECT_LT(max_diff(of.logits, orf.logits), 1e-12);
  EXPECT_LT(max_diff(of.activity, orf.activity), 1e-12);
  (of.logits.pow(2).sum() + of.activity.sum()).backward();
  (orf.logits.pow(2).sum() + orf.activity.sum()).backward();
  for (auto& p : fast->named_parameters()) {
    auto gr = ref->named_parameters()[p.key()].grad();
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_LT(max_diff(p.value().grad(), gr), 1e-10 * std::max(1.0, gr.abs().max().item<double>())) << p.key();
  }
}
