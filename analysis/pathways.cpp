#include "analysis/pathways.h"

#include <vector>

namespace sernn {
namespace {

/// share and mean hop count of the masses m_0 .. m_K.
nlohmann::json summarise(const std::vector<double>& mass) {
  double total = 0, weighted = 0;
  for (size_t k = 0; k < mass.size(); ++k) total += mass[k], weighted += static_cast<double>(k) * mass[k];
  std::vector<double> share;
  for (double m : mass) share.push_back(total > 0 ? m / total : 0.0);
  nlohmann::json j = {{"mass", mass}, {"share", share}};
  j["mean_hops"] = total > 0 ? nlohmann::json(weighted / total) : nlohmann::json();
  return j;
}

}  // namespace

nlohmann::json pathway_hops(const torch::Tensor& w_in, const torch::Tensor& w, const torch::Tensor& w_out,
                            int64_t max_hops, const torch::Tensor& input_groups, double alpha) {
  TORCH_CHECK(w.dim() == 2 && w.size(0) == w.size(1), "pathway_hops: W must be [N, N], got ", w.sizes());
  TORCH_CHECK(w_in.dim() == 2 && w_in.size(0) == w.size(0), "pathway_hops: W_in must be [N, inputs], got ",
              w_in.sizes());
  TORCH_CHECK(w_out.dim() == 2 && w_out.size(1) == w.size(0), "pathway_hops: W_out must be [classes, N], got ",
              w_out.sizes());
  TORCH_CHECK(max_hops >= 0, "pathway_hops: max_hops must be >= 0");
  TORCH_CHECK(alpha > 0 && alpha < 1, "pathway_hops: alpha must lie in (0, 1), got ", alpha);
  torch::NoGradGuard no_grad;
  const auto cpu = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64).abs(); };
  const auto out = cpu(w_out);
  auto a = cpu(w);
  const double rho = torch::linalg_eigvals(a).abs().max().item<double>();
  a = rho > 0 ? a * (alpha / rho) : a;
  // Column sums of P_k per input: ones^T |W_out| |W|^k |W_in|, built right to left from the readout.
  auto row = out.sum(0);                 // [N]: 1^T |W_out|
  std::vector<torch::Tensor> per_input;  // [I] per hop
  const auto in = cpu(w_in);
  for (int64_t k = 0; k <= max_hops; ++k) {
    per_input.push_back(torch::matmul(row, in));
    row = torch::matmul(row, a);
  }
  std::vector<double> mass;
  for (const auto& p : per_input) mass.push_back(p.sum().item<double>());
  auto j = summarise(mass);
  j["max_hops"] = max_hops;
  j["alpha"] = alpha;
  j["rho_abs"] = rho;
  j["tail_share"] = j["share"].back();
  if (input_groups.defined()) {
    TORCH_CHECK(input_groups.dim() == 1 && input_groups.size(0) == w_in.size(1), "pathway_hops: input_groups must be [",
                w_in.size(1), "], got ", input_groups.sizes());
    const auto groups = input_groups.to(torch::kCPU, torch::kInt64);
    const int64_t count = groups.max().item<int64_t>() + 1;
    j["groups"] = nlohmann::json::array();
    for (int64_t g = 0; g < count; ++g) {
      const auto cols = groups.eq(g);
      std::vector<double> gm;
      for (const auto& p : per_input) gm.push_back(p.masked_select(cols).sum().item<double>());
      auto gj = summarise(gm);
      gj["group"] = g;
      j["groups"].push_back(gj);
    }
  }
  return j;
}

}  // namespace sernn
