#pragma once
/// Structural and spectral measures of one recurrent weight matrix W [N, N] (row = post,
/// column = pre), as in the seRNN reference analyses (DESIGN §5). All take and return float64
/// on the CPU and never produce NaN where the reference does (0·log 0 = 0, see docs/analysis.md).
#include <array>
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// Shannon entropy of the weights: A = |W|, p_ij = A_ij / Σ_j A_ij (row-normalised),
/// h_i = -Σ_j p_ij log2 p_ij, H = mean_i h_i. All-zero rows have h_i = 0.
double weight_entropy(const torch::Tensor& w);

/// Eigenvalues of the signed W as [N, 2] (re, im), sorted by decreasing real part.
torch::Tensor eigenvalues(const torch::Tensor& w);

/// eigenvalues() as a list of (re, im) pairs, in the same order (the JSON and plots' form).
std::vector<std::array<double, 2>> eigenvalue_pairs(const torch::Tensor& ev);

/// log(max real part of eig(W)) as the reference; -inf when that real part is <= 0.
double lambda_max(const torch::Tensor& w);
/// The same from eigenvalues() of W (computed once by callers that need several spectral measures).
double lambda_max_of_eigenvalues(const torch::Tensor& ev);

/// Spectral entropy: p_i = |λ_i| / Σ_j |λ_j|, -Σ p_i log2 p_i (0 for the zero matrix).
double spectral_entropy(const torch::Tensor& w);
/// The same from eigenvalues() of W.
double spectral_entropy_of_eigenvalues(const torch::Tensor& ev);

/// Share of the eigenvalues that are real (|Im λ| <= 1e-9 max |λ|; 1 for the zero matrix): seed
/// 000's Fig 5c reads seRNN spectra as collapsing onto the real axis as W grows symmetric.
double real_eigenvalue_share(const torch::Tensor& ev);

/// Σ_ij |W_ij|.
double total_weight(const torch::Tensor& w);

/// Symmetry of W: ||W_sym||_F^2 / ||W||_F^2 with W_sym = (W + W^T)/2; 1 for symmetric,
/// 0 for antisymmetric, 0.5 on average for random (1 for the zero matrix).
double symmetry(const torch::Tensor& w);

}  // namespace sernn
