#pragma once
/// Graph measures of a weighted directed network, following the Brain Connectivity Toolbox
/// definitions (see docs/analysis.md). Input a: [N, N] non-negative weights, a[i][j] = weight of
/// the edge i -> j; zero = no edge; the diagonal is ignored. Weighted path measures use the
/// BCT convention length = 1 / weight on weights normalised to max 1.
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// Number of strongly connected components (Boost.Graph, Tarjan).
int64_t scc_count(const torch::Tensor& a);
/// All-pairs shortest weighted path lengths [N, N] (Boost.Graph Dijkstra on 1/w); inf if none.
torch::Tensor shortest_path_lengths(const torch::Tensor& a);
/// Global efficiency: mean over ordered pairs i != j of 1 / d_ij (BCT efficiency_wei, directed).
double global_efficiency(const torch::Tensor& a);
/// Characteristic path length: mean finite d_ij over i != j (BCT charpath, infinite excluded).
double char_path_length(const torch::Tensor& a);
/// Betweenness of every node on 1/w lengths (Boost.Graph Brandes; BCT betweenness_wei counts).
std::vector<double> betweenness(const torch::Tensor& a);
/// Weighted directed clustering per node (BCT clustering_coef_wd, Fagiolo 2007) on weights
/// normalised to max 1; nodes without triangle possibilities get 0.
torch::Tensor clustering_wd(const torch::Tensor& a);
/// Small-world sigma = (C / C_null) / (L / L_null) with C = mean clustering_wd and L =
/// char_path_length, nulls = `nulls` random permutations of the off-diagonal weights (seeded).
double small_world_sigma(const torch::Tensor& a, int64_t nulls = 10, uint64_t seed = 1);

}  // namespace sernn
