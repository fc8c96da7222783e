#pragma once
/// The rate RNN's hidden layer over a whole sequence as one autograd node (the `fast` CPU path of
/// RateRNN; see rate_rnn.h for the model):
///
///     z_t = drive_t + W h_{t-1},   a_t = f(z_t),   h_{-1} = 0
///     h_t = a_t                              (shared alpha = 1: the Keras SimpleRNN)
///     h_t = (1 - alpha) h_{t-1} + alpha a_t  (shared alpha)
///     h_t = h_{t-1} + alpha_i (a_t - h_{t-1}) (per-neuron alpha_i)
///     h_t += noise_t                          (training noise, pre-drawn and pre-scaled)
///
/// Why: the per-step LibTorch graph costs three small GEMMs per step, each an OpenMP parallel
/// region inside OpenBLAS; with a busy core every region waits for a descheduled thread (a run
/// at 2 threads beside a build was 40x slower than at 1). Here batch rows are independent, so
/// each thread runs the whole time loop, forward and backward, for its own rows (one parallel
/// region per direction; the per-step products run single-threaded inside it), and the weight
/// gradient is one GEMM over all steps afterwards.
#include <torch/torch.h>

namespace sernn {

/// drive: [T, B, N] (input projection, recurrent bias included); weight: [N, N] (out, in);
/// alpha: 0-dim (shared, a constant) or [N] (per neuron, differentiable); noise: [T, B, N] or
/// undefined; tanh: f = tanh, else ReLU. Returns h [T, B, N], differentiable in drive, weight, a
/// per-neuron alpha and the noise (whose scale may depend on alpha). CPU, float32 or float64.
///
/// K networks at once (RateEnsemble): drive [K, T, B, N], weight [K, N, N], noise [K, T, B, N],
/// alpha 0-dim (shared by all) -> h [K, T, B, N]; member k computes exactly what its own call
/// would. With at least as many members as threads, each thread runs whole members.
torch::Tensor rate_network(const torch::Tensor& drive, const torch::Tensor& weight, const torch::Tensor& alpha,
                           const torch::Tensor& noise, bool tanh);

/// K networks without noise, only the last state: drive [K, T, B, N], weight [K, N, N], alpha
/// 0-dim -> h_{T-1} [K, B, N] (what a readout of the final state reads; the backward then knows
/// that every earlier state's gradient is zero and reads none).
torch::Tensor rate_network_last(const torch::Tensor& drive, const torch::Tensor& weight, const torch::Tensor& alpha,
                                bool tanh);

/// K independent affine maps, out[k] = x[k] w[k]^T + b[k] for x [K, M, C], w [K, N, C],
/// b [K, N], differentiable in all three. On the CPU the products run in fixed row blocks on the
/// pool (blocked_matmul, core/parallel.h): a network alone (K = 1) and a member of an ensemble
/// compute the same bits at any thread count. The input projection and the readout of RateRNN's
/// fast path and of RateEnsemble.
torch::Tensor member_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);

}  // namespace sernn
