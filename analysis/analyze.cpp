#include "analysis/analyze.h"

#include <cmath>

#include <boost/math/distributions/students_t.hpp>
#include <fmt/format.h>

#include "analysis/graph_measures.h"
#include "analysis/measures.h"
#include "analysis/modularity.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "regularizers/penalties.h"

namespace sernn {
namespace {

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

/// Pearson r of two 1-D float64 tensors; NaN when either is constant.
double pearson_r(const torch::Tensor& x, const torch::Tensor& y) {
  const auto xc = x - x.mean(), yc = y - y.mean();
  const double den = std::sqrt(xc.pow(2).sum().item<double>() * yc.pow(2).sum().item<double>());
  return den > 0 ? (xc * yc).sum().item<double>() / den : std::nan("");
}

/// reference_measures with W's eigenvalues (eigenvalues()) and its distance matrix (undefined
/// without coordinates) given, so that analyze_matrix computes each once.
nlohmann::json reference_measures_of(const torch::Tensor& w, const torch::Tensor& ev, const torch::Tensor& distance,
                                     const AnalysisOptions& o) {
  nlohmann::json j;
  // The seed-000 measures (Q, H(W), H(C)) are the reference's, on the matrix as its training code
  // stored it (docs/analysis.md): rows presynaptic for rate networks (Keras kernels), rows
  // postsynaptic for spiking networks (snnTorch weights). That is also what decides whose row
  // sums normalise C there, so the strength names the layout: out -> W^T, in -> W.
  const auto stored = stored_layout(w, o.strength);
  const auto mod = modularity_dir(stored.abs(), o.gamma_modularity);  // [~,qd_aabs] = modularity_dir(aabs)
  j["modularity"] = {{"q", mod.q}, {"communities", mod.communities}, {"gamma", o.gamma_modularity}};
  j["layout"] = o.strength == Strength::Out ? "rows_presynaptic" : "rows_postsynaptic";
  // ncabs = expm(s^-1/2 * aabs * s^-1/2), s = diag(sum(aabs, 2)): row sums of the stored matrix,
  // and its diagonal kept.
  const auto c = communicability_detached(stored, Strength::In);
  j["entropy"] = {{"weights", weight_entropy(stored)},
                  {"communicability", weight_entropy(c)},
                  {"spectral", spectral_entropy_of_eigenvalues(ev)}};
  j["spectrum"] = {{"lambda_max", finite_or_null(lambda_max_of_eigenvalues(ev))},
                   {"real_share", real_eigenvalue_share(ev)}};
  // Fig 5c: seRNN eigenvalues turn real as the weights turn symmetric (D is symmetric).
  j["symmetry"] = symmetry(w);
  j["total_weight"] = total_weight(w);
  j["weight_distance"] = {
      {"r_reference", distance.defined() ? finite_or_null(abs_weight_distance_r(w, distance)) : nlohmann::json()}};
  return j;
}

}  // namespace

Correlation weight_distance_correlation(const torch::Tensor& w_, const torch::Tensor& distance) {
  auto a = w_.detach().to(torch::kCPU, torch::kFloat64).abs();
  auto s = a.sum(1, true);
  auto p = a / torch::where(s > 0, s, torch::ones_like(s));
  auto mask = (a > 0).logical_and(torch::eye(a.size(0), torch::kBool).logical_not());
  auto x = p.masked_select(mask), y = distance.to(torch::kFloat64).masked_select(mask);
  Correlation c;
  c.n = x.size(0);
  if (c.n < 3) return {std::nan(""), std::nan(""), c.n};
  const double r = pearson_r(x, y);
  if (std::isnan(r)) return {std::nan(""), std::nan(""), c.n};
  c.r = std::clamp(r, -1.0, 1.0);
  const double dof = static_cast<double>(c.n - 2);
  if (std::abs(c.r) >= 1.0) {
    c.p = 0.0;
  } else {
    const double t = c.r * std::sqrt(dof / (1.0 - c.r * c.r));
    boost::math::students_t dist(dof);
    c.p = 2.0 * boost::math::cdf(boost::math::complement(dist, std::abs(t)));
  }
  return c;
}

torch::Tensor stored_layout(const torch::Tensor& w, Strength strength) {
  return strength == Strength::Out ? w.t().contiguous() : w;
}

double abs_weight_distance_r(const torch::Tensor& w, const torch::Tensor& distance) {
  // [r1(epoch),p1(epoch)] = corr(jx(:),dx(:)) with jx = |W| (rate_figures.m): every entry.
  return pearson_r(w.detach().to(torch::kCPU, torch::kFloat64).abs().flatten(),
                   distance.to(torch::kCPU, torch::kFloat64).flatten());
}

nlohmann::json reference_measures(const torch::Tensor& w_, const torch::Tensor& coords, const AnalysisOptions& o) {
  torch::NoGradGuard no_grad;
  const auto w = w_.detach().to(torch::kCPU, torch::kFloat64);
  return reference_measures_of(
      w, eigenvalues(w), coords.defined() ? distance_matrix(coords.to(torch::kCPU, torch::kFloat64)) : torch::Tensor(),
      o);
}

nlohmann::json analyze_matrix(const torch::Tensor& w_, const torch::Tensor& coords, const AnalysisOptions& o) {
  torch::NoGradGuard no_grad;
  const auto w = w_.detach().to(torch::kCPU, torch::kFloat64);
  TORCH_CHECK(w.dim() == 2 && w.size(0) == w.size(1), "analyze: expected a square matrix, got ", w.sizes());
  const int64_t n = w.size(0);
  const auto a = w.abs();
  nlohmann::json j;
  j["n"] = n;

  // BCT reads A_ij as the edge i -> j; our W_ij is j -> i, so the graph measures get the transpose.
  const auto bct = a.t().contiguous();
  const auto ev = eigenvalues(w);
  torch::Tensor distance;
  if (coords.defined()) distance = distance_matrix(coords.to(torch::kCPU, torch::kFloat64));
  j.update(reference_measures_of(w, ev, distance, o));
  j["spectrum"]["max_real"] = ev[0][0].item<double>();
  j["spectrum"]["spectral_radius"] = ev.pow(2).sum(1).sqrt().max().item<double>();
  j["spectrum"]["eigenvalues"] = eigenvalue_pairs(ev);

  WiringPenaltyOptions po;
  po.comm_grad = CommGrad::Detached;
  po.strength = o.strength;
  po.distance = distance;
  nlohmann::json pen;
  for (const auto& kind : wiring_penalty_names()) {
    if (wiring_penalty_uses_distance(kind) && !distance.defined()) {
      pen[kind] = nullptr;
      continue;
    }
    po.kind = kind;
    pen[kind] = WiringPenalty(po)(w).item<double>();
  }
  j["penalties"] = pen;
  if (distance.defined()) {
    const auto corr = weight_distance_correlation(w, distance);
    j["weight_distance"]["r"] = finite_or_null(corr.r);
    j["weight_distance"]["p"] = finite_or_null(corr.p);
    j["weight_distance"]["n"] = corr.n;
  } else {
    j["weight_distance"] = {{"r", nullptr}, {"p", nullptr}, {"n", 0}, {"r_reference", nullptr}};
  }

  j["graph"] = {{"scc_count", scc_count(bct)},
                {"global_efficiency", global_efficiency(bct)},
                {"char_path_length", finite_or_null(char_path_length(bct))},
                {"mean_clustering", clustering_wd(bct).mean().item<double>()},
                {"betweenness", betweenness(bct)}};
  j["small_world"] = {{"sigma", finite_or_null(small_world_sigma(bct, o.nulls, o.seed))}, {"nulls", o.nulls}};
  return j;
}

nlohmann::json analyze_run(const std::string& run_dir, const AnalysisOptions& o) {
  const RunDir run(run_dir);
  const auto coords_path = run.file("coords.csv");
  torch::Tensor coords;
  if (file_exists(coords_path)) coords = run.read_coords();
  nlohmann::json out = nlohmann::json::array();
  for (int64_t e = 0;; ++e) {
    const auto path = run.weights_path(e);
    if (!file_exists(path)) break;
    const auto w = run.read_weights(e);
    if (w.size(0) != w.size(1))
      throw InputError(fmt::format("{}: weights must be square, got {} x {}", path, w.size(0), w.size(1)));
    if (coords.defined() && coords.size(0) != w.size(0))
      throw InputError(fmt::format("{}: {} neurons but {} has {} rows", path, w.size(0), coords_path, coords.size(0)));
    auto j = analyze_matrix(w, coords, o);
    j["epoch"] = e;
    out.push_back(std::move(j));
  }
  if (out.empty()) throw InputError(fmt::format("{}/weights: no epoch_EEE.csv snapshots", run_dir));
  return out;
}

}  // namespace sernn
