#pragma once
/// Directed modularity exactly as the Brain Connectivity Toolbox's MATLAB `modularity_dir`
/// (Leicht & Newman 2008): B = A - γ k_out k_inᵀ / m, symmetrised to B + Bᵀ; recursive
/// bisection by the leading eigenvector of the generalised matrix B_g - diag(row sums of B_g)
/// at every level; Kernighan–Lin style fine-tuning that moves every node once (ties together)
/// and keeps the best split; a group is split only while its contribution exceeds 1e-10.
#include <vector>

#include <torch/torch.h>

namespace sernn {

struct ModularityResult {
  std::vector<int64_t> communities;  ///< 1-based community label per node (BCT's Ci)
  double q = 0.0;                    ///< modularity of that partition
};

/// a: [N, N] non-negative weights with a[i][j] = weight of the edge i -> j as BCT reads it
/// (for sernn's (post, pre) weights pass |W|, which BCT's symmetrisation makes equivalent).
ModularityResult modularity_dir(const torch::Tensor& a, double gamma = 1.0);

/// Q of a given partition (labels of any values) under the same B: Σ_ij B_ij δ(c_i, c_j) / (2m).
double modularity_q(const torch::Tensor& a, const std::vector<int64_t>& communities, double gamma = 1.0);

}  // namespace sernn
