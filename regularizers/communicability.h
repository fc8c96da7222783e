#pragma once
/// Communicability of a weighted directed network and the matrix exponential behind it, as
/// custom autograd functions with analytic backward passes (DESIGN §2):
///
///     C = expm(S^(-1/2) · A · S^(-1/2)),   A = |W|,   S = diag(node strength of A).
///
/// W is [N, N] or batched [K, N, N], with rows = postsynaptic and columns = presynaptic (torch
/// (out, in) layout); float32 or float64; any device. Node strength is either the in-strength
/// (row sums; the spiking reference) or the out-strength (column sums; the rate reference,
/// whose Keras kernel is the transpose).
///
/// Zero-strength convention: a neuron with zero strength has S^(-1/2) = 0 (not inf), so its row
/// and column of the normalised matrix vanish, C there is the identity's, and the penalty and
/// its gradient stay finite. (The reference code has no epsilon and returns inf/NaN.)
///
/// expm uses scaling and squaring with the degree-16 Taylor polynomial evaluated by
/// Paterson–Stockmeyer (6 matrix products), the scaling chosen so that ||X||_1 <= 1 (float32) or
/// 1/2 (float64): truncation error below 3e-15 resp. 2e-20, relative. The backward pass is the
/// exact adjoint of that same algorithm (reverse-mode through the products and squarings),
/// i.e. the Fréchet derivative L(X^T, G) up to the truncation error, at about twice the
/// forward's cost.
///
/// The number of squarings s (one per matrix of a batch, from its own ||M||_1, so that a batch
/// member is scaled and squared exactly as the matrix alone) is chosen in one of two ways. `Host`: s is read back to the host and exactly s squarings run (one device
/// sync per call; free on the CPU). `Device`: s stays on the device, capped at kMaxSquarings, and
/// kMaxSquarings squarings run, each masked by i < s (no host read: a CUDA training step never
/// waits on it). Both give the same value and gradient up to rounding while ||M||_1 <=
/// 2^kMaxSquarings theta (1024 in float32; the penalties' normalised matrices are similar to
/// stochastic matrices, spectral radius <= 1). `Automatic` = host on the CPU, device elsewhere.
#include <torch/torch.h>

namespace sernn {

enum class Strength { In, Out };
enum class Squaring { Automatic, Host, Device };

/// Cap on the squarings of Squaring::Device.
constexpr int64_t kMaxSquarings = 10;

/// expm(X) for X [..., N, N], differentiable with the analytic adjoint described above.
torch::Tensor expm(const torch::Tensor& x, Squaring squaring = Squaring::Automatic);

/// C = expm(S^-1/2 |W| S^-1/2), differentiable in W (full gradient: through expm, S and |.|).
torch::Tensor communicability(const torch::Tensor& weight, Strength strength, Squaring squaring = Squaring::Automatic);

/// The same value computed with no graph (the `detached` gradient mode treats C as constant).
torch::Tensor communicability_detached(const torch::Tensor& weight, Strength strength,
                                       Squaring squaring = Squaring::Automatic);

/// Reference: the same formula with LibTorch autograd through torch::linalg_matrix_exp.
/// Used by tests and by `sernn bench regularizer` as the baseline (`autograd_matrix_exp`).
torch::Tensor communicability_autograd_reference(const torch::Tensor& weight, Strength strength);

/// Normalised matrix S^-1/2 |W| S^-1/2 with the zero-strength convention (plain autograd ops).
torch::Tensor normalized_abs(const torch::Tensor& weight, Strength strength);

}  // namespace sernn
