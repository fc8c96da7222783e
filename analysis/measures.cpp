#include "analysis/measures.h"

#include <cmath>
#include <limits>

namespace sernn {
namespace {
torch::Tensor as_cpu64(const torch::Tensor& w) {
  TORCH_CHECK(w.dim() == 2 && w.size(0) == w.size(1), "expected a square matrix, got ", w.sizes());
  return w.detach().to(torch::kCPU, torch::kFloat64);
}

/// -Σ p log2 p over the last dimension with 0 log 0 = 0.
torch::Tensor entropy_bits(const torch::Tensor& p) {
  auto safe = torch::where(p > 0, p, torch::ones_like(p));
  return -(p * safe.log2()).sum(-1);
}
}  // namespace

double weight_entropy(const torch::Tensor& w_) {
  auto a = as_cpu64(w_).abs();
  auto s = a.sum(1, true);
  auto p = a / torch::where(s > 0, s, torch::ones_like(s));
  return entropy_bits(p).mean().item<double>();
}

torch::Tensor eigenvalues(const torch::Tensor& w_) {
  auto ev = torch::linalg_eigvals(as_cpu64(w_));
  auto re = torch::real(ev), im = torch::imag(ev);
  auto order = torch::argsort(re, 0, /*descending=*/true);
  return torch::stack({re.index_select(0, order), im.index_select(0, order)}, 1);
}

std::vector<std::array<double, 2>> eigenvalue_pairs(const torch::Tensor& ev) {
  const auto e = ev.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto a = e.accessor<double, 2>();
  std::vector<std::array<double, 2>> out(static_cast<size_t>(e.size(0)));
  for (int64_t i = 0; i < e.size(0); ++i) out[static_cast<size_t>(i)] = {a[i][0], a[i][1]};
  return out;
}

double lambda_max(const torch::Tensor& w) { return lambda_max_of_eigenvalues(eigenvalues(w)); }

double lambda_max_of_eigenvalues(const torch::Tensor& ev) {
  const double re = ev[0][0].item<double>();
  return re > 0 ? std::log(re) : -std::numeric_limits<double>::infinity();
}

double spectral_entropy(const torch::Tensor& w) { return spectral_entropy_of_eigenvalues(eigenvalues(w)); }

double spectral_entropy_of_eigenvalues(const torch::Tensor& ev) {
  auto mag = ev.pow(2).sum(1).sqrt();
  const double total = mag.sum().item<double>();
  if (total <= 0) return 0.0;
  return entropy_bits(mag / total).item<double>();
}

double real_eigenvalue_share(const torch::Tensor& ev) {
  const auto mag = ev.pow(2).sum(1).sqrt();
  const double top = ev.size(0) ? mag.max().item<double>() : 0.0;
  if (top <= 0) return 1.0;
  return ev.select(1, 1).abs().le(1e-9 * top).to(torch::kFloat64).mean().item<double>();
}

double total_weight(const torch::Tensor& w) { return as_cpu64(w).abs().sum().item<double>(); }

double symmetry(const torch::Tensor& w_) {
  auto w = as_cpu64(w_);
  const double total = w.pow(2).sum().item<double>();
  if (total <= 0) return 1.0;
  return ((w + w.t()) / 2).pow(2).sum().item<double>() / total;
}

}  // namespace sernn
