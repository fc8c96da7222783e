#pragma once
/// Hop-length decomposition of the learned input -> output pathways (seed 003, R-RNN).
///
/// A signal entering the hidden layer through W_in reaches the readout W_out after k steps
/// through the recurrent weights W; linearised, its route is W_out W^k W_in. With magnitudes,
///     P_k = |W_out| |W|^k |W_in|           [classes, inputs],   k = 0 .. max_hops,
/// and the mass of k-hop pathways is m_k = sum(P_k); share_k = m_k / sum_j m_j and
/// mean_hops = sum_k k share_k. A network that routes its task through direct input -> readout
/// neurons has its mass at k = 0; a network that relays through other neurons at larger k.
/// With input groups (e.g. the modules of the hierarchical task) the same is reported for the
/// columns of each group. The decomposition is truncated at max_hops (|W| may have spectral
/// radius >= 1, so the full series need not converge); `tail_share` tells how much of the
/// mass sits at the truncation hop.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sernn {

/// w_in [N, I], w [N, N] (row = post), w_out [C, N]; input_groups [I] int64 or undefined.
/// Returns {"max_hops", "mass": [...], "share": [...], "mean_hops", "tail_share",
/// "groups": [{"group", "mass", "share", "mean_hops"}, ...] (only with input_groups)}.
nlohmann::json pathway_hops(const torch::Tensor& w_in, const torch::Tensor& w, const torch::Tensor& w_out,
                            int64_t max_hops, const torch::Tensor& input_groups = {});

}  // namespace sernn
