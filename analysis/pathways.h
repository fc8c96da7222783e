#pragma once
/// Hop-length decomposition of the learned input -> output pathways (seed 003, R-RNN).
///
/// A signal entering the hidden layer through W_in reaches the readout W_out after k steps
/// through the recurrent weights W; linearised, its route is W_out W^k W_in. With magnitudes
/// and the resolvent's hop weighting (regularizers/penalties.h: R = sum_k alpha^k Â^k),
///     Â = |W| / rho(|W|)   (rho: spectral radius, the Perron root of |W|),
///     P_k = |W_out| (alpha Â)^k |W_in|          [classes, inputs],   k = 0 .. max_hops,
/// the mass of k-hop pathways is m_k = sum(P_k); share_k = m_k / sum_j m_j and
/// mean_hops = sum_k k share_k. Dividing by rho makes networks of any weight scale comparable
/// and the series converge (alpha < 1): a network that routes its task through direct
/// input -> readout neurons has its mass at k = 0, one that relays through other neurons at
/// larger k. With input groups (e.g. the modules of the hierarchical task) the same is reported
/// for the columns of each group. `tail_share` is the share at the truncation hop.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sernn {

/// w_in [N, I], w [N, N] (row = post), w_out [C, N]; input_groups [I] int64 or undefined;
/// 0 < alpha < 1. Returns {"max_hops", "alpha", "rho_abs", "mass": [...], "share": [...],
/// "mean_hops", "tail_share", "groups": [{"group", "mass", "share", "mean_hops"}, ...]
/// (only with input_groups)}. A W without recurrence (rho = 0) has all its mass at k = 0.
nlohmann::json pathway_hops(const torch::Tensor& w_in, const torch::Tensor& w, const torch::Tensor& w_out,
                            int64_t max_hops, const torch::Tensor& input_groups = {}, double alpha = 0.5);

}  // namespace sernn
