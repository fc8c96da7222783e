#pragma once
/// Everything `sernn analyze` reports for one recurrent weight matrix, as a JSON object
/// (docs/analysis.md lists every key and its definition). Non-finite values are written as null.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "regularizers/communicability.h"

namespace sernn {

struct AnalysisOptions {
  double gamma_modularity = 1.0;     ///< resolution γ of modularity_dir
  Strength strength = Strength::In;  ///< normalisation of the communicability (entropy, penalties)
  int64_t nulls = 10;                ///< random nulls for small_world.sigma
  uint64_t seed = 1;                 ///< seed of the nulls
};

/// w: [N, N] signed recurrent weights (row = post, column = pre). coords: [N, 3] or undefined
/// (then the distance measures and the space/sernn penalties are null).
nlohmann::json analyze_matrix(const torch::Tensor& w, const torch::Tensor& coords, const AnalysisOptions& options);

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
