#pragma once
/// Everything `sernn analyze` reports for one recurrent weight matrix, as a JSON object
/// (docs/analysis.md lists every key and its definition). Non-finite values are written as null.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "regularizers/communicability.h"

namespace sernn {

struct AnalysisOptions {
  double gamma_modularity = 1.0;  ///< resolution γ of modularity_dir
  /// The layout the seed-000 reference measured (and the communicability penalties' strength):
  /// Out = rows presynaptic (rate networks, stored by Keras as W^T), In = rows postsynaptic
  /// (spiking networks, snnTorch's W). See stored_layout.
  Strength strength = Strength::In;
  int64_t nulls = 10;  ///< random nulls for small_world.sigma
  uint64_t seed = 1;   ///< seed of the nulls
};

/// The seed-000 statistics only (cheap enough for every epoch of every run of a sweep): the keys
/// layout, modularity.q, entropy.{weights, communicability, spectral}, spectrum.lambda_max,
/// total_weight and (with coords) weight_distance.r_reference, as analyze_matrix writes them.
nlohmann::json reference_measures(const torch::Tensor& w, const torch::Tensor& coords, const AnalysisOptions& options);

/// w: [N, N] signed recurrent weights (row = post, column = pre). coords: [N, 3] or undefined
/// (then the distance measures and the space/sernn penalties are null).
nlohmann::json analyze_matrix(const torch::Tensor& w, const torch::Tensor& coords, const AnalysisOptions& options);

/// The matrix as the reference's training code stored it: W^T for Strength::Out (rows
/// presynaptic), W for Strength::In. Q, H(W) and H(C) are computed on it, row by row, exactly as
/// rate_generate_statistics.m / spiking_generate_statistics.m do (docs/analysis.md).
torch::Tensor stored_layout(const torch::Tensor& w, Strength strength);

/// Pearson r between |W_ij| and D_ij over all N^2 entries, as rate_figures.m correlates them
/// (Fig 3); NaN when either is constant.
double abs_weight_distance_r(const torch::Tensor& w, const torch::Tensor& distance);

/// Pearson r between p_ij = |W_ij| / Σ_j |W_ij| and D_ij over existing connections (i != j,
/// W_ij != 0), its two-sided p-value (Student t, n - 2 dof) and n.
struct Correlation {
  double r = 0, p = 1;
  int64_t n = 0;
};
Correlation weight_distance_correlation(const torch::Tensor& w, const torch::Tensor& distance);

/// Analyses every weights/epoch_EEE.csv of a run directory; one object per epoch (with "epoch").
nlohmann::json analyze_run(const std::string& run_dir, const AnalysisOptions& options);

}  // namespace sernn
