#include "analysis/modularity.h"

#include <cmath>
#include <limits>

namespace sernn {
namespace {

torch::Tensor modularity_matrix(const torch::Tensor& a, double gamma, double* m_out) {
  auto k_in = a.sum(0);   // column sums
  auto k_out = a.sum(1);  // row sums
  const double m = k_in.sum().item<double>();
  *m_out = m;
  auto b1 = m > 0 ? a - gamma * torch::outer(k_out, k_in).t() / m : a.clone();
  return b1 + b1.t();
}

}  // namespace

double modularity_q(const torch::Tensor& a_, const std::vector<int64_t>& ci, double gamma) {
  auto a = a_.detach().to(torch::kCPU, torch::kFloat64);
  double m = 0;
  auto b = modularity_matrix(a, gamma, &m);
  if (m <= 0) return 0.0;
  auto c = torch::tensor(ci, torch::kInt64);
  auto same = c.unsqueeze(0).eq(c.unsqueeze(1)).to(torch::kFloat64);
  return (b * same).sum().item<double>() / (2.0 * m);
}

namespace {

/// BCT's Kernighan-Lin-style fine-tuning of a split s (±1 per node) of the group with
/// modularity matrix bg and modularity q: flip the nodes whose single flip gives the highest
/// modularity, each once, and keep the best split seen.
std::vector<double> fine_tune(const torch::Tensor& bg, const std::vector<double>& s, double q) {
  const int64_t ng = static_cast<int64_t>(s.size());
  double qmax = q;
  auto bz = bg.clone();
  bz.fill_diagonal_(0.0);
  auto bza = bz.accessor<double, 2>();
  std::vector<bool> unmoved(ng, true);
  std::vector<double> sit = s;
  std::vector<double> best = s;
  auto any_unmoved = [&] {
    for (bool u : unmoved)
      if (u) return true;
    return false;
  };
  while (any_unmoved()) {
    // Qit_i = qmax - 4 Sit_i (Bg Sit)_i: modularity after flipping node i alone.
    std::vector<double> qit(ng);
    for (int64_t i = 0; i < ng; ++i) {
      double bs = 0;
      for (int64_t j = 0; j < ng; ++j) bs += bza[i][j] * sit[j];
      qit[i] = qmax - 4.0 * sit[i] * bs;
    }
    double best_q = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < ng; ++i)
      if (unmoved[i]) best_q = std::max(best_q, qit[i]);
    qmax = best_q;
    // Every node whose Qit equals the maximum moves (MATLAB: imax = (Qit == qmax)).
    for (int64_t i = 0; i < ng; ++i)
      if (qit[i] == qmax) {
        sit[i] = -sit[i];
        unmoved[i] = false;
      }
    if (qmax > q) {
      q = qmax;
      best = sit;
    }
  }
  return best;
}

}  // namespace

ModularityResult modularity_dir(const torch::Tensor& a_, double gamma) {
  auto a = a_.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  TORCH_CHECK(a.dim() == 2 && a.size(0) == a.size(1), "modularity_dir expects a square matrix, got ", a.sizes());
  const int64_t n = a.size(0);
  double m = 0;
  const auto b = modularity_matrix(a, gamma, &m);
  ModularityResult r;
  r.communities.assign(n, 1);
  if (m <= 0) return r;

  std::vector<int64_t> unexamined{1};  // U, front = U(1)
  int64_t cn = 1;
  std::vector<int64_t> ind(n);
  for (int64_t i = 0; i < n; ++i) ind[i] = i;
  torch::Tensor bg = b.clone();

  while (!unexamined.empty()) {
    const int64_t ng = static_cast<int64_t>(ind.size());
    auto [evals, evecs] = torch::linalg_eigh(bg, "L");
    const int64_t i1 = evals.argmax().item<int64_t>();
    auto v1 = evecs.select(1, i1);
    std::vector<double> s(ng);
    auto v1a = v1.accessor<double, 1>();
    for (int64_t i = 0; i < ng; ++i) s[i] = v1a[i] < 0 ? -1.0 : 1.0;
    auto st = torch::tensor(s, torch::kFloat64);
    double q = st.dot(bg.matmul(st)).item<double>();

    if (q > 1e-10) {
      const auto best = fine_tune(bg, s, q);
      double sum = 0;
      for (double v : best) sum += v;
      if (std::abs(sum) == static_cast<double>(ng)) {
        unexamined.erase(unexamined.begin());  // unsuccessful split
      } else {
        ++cn;
        const int64_t u1 = unexamined.front();
        for (int64_t i = 0; i < ng; ++i) r.communities[ind[i]] = best[i] == 1.0 ? u1 : cn;
        unexamined.insert(unexamined.begin(), cn);
      }
    } else {
      unexamined.erase(unexamined.begin());  // indivisible
    }
    if (unexamined.empty()) break;
    ind.clear();
    for (int64_t i = 0; i < n; ++i)
      if (r.communities[i] == unexamined.front()) ind.push_back(i);
    auto idx = torch::tensor(ind, torch::kInt64);
    auto sub = b.index_select(0, idx).index_select(1, idx);
    bg = sub - torch::diag(sub.sum(0));
  }
  r.q = modularity_q(a, r.communities, gamma);
  return r;
}

}  // namespace sernn
