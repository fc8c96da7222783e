#pragma once
/// Fixed points and Jacobian spectra of rate networks (seed 004). The continuous-time dynamics
/// of the rate model (models/rate_rnn.h), with a constant input folded into the bias b, are
///     dh/dt = F(h) = T^-1 (-h + phi(W h + b)),   T = diag(tau_i)   (tau in time steps),
/// so at a fixed point h* (F = 0), with x* = W h* + b,
///     J = T^-1 (-I + diag(phi'(x*)) W).
/// (For the current-based form tau dx/dt = -x + W phi(x) + b the Jacobian is
/// T^-1 (-I + W diag(phi'(x*))); with one shared tau both have the same eigenvalues.)
/// The spectral edge is the largest real part of J's eigenvalues; h* is stable when it is < 0.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sernn {

struct RateDynamics {
  torch::Tensor w;         ///< [N, N] recurrent weight (row = post)
  torch::Tensor bias;      ///< [N] constant drive (recurrent bias + input)
  torch::Tensor tau;       ///< [N] time constants in steps (1 / alpha_i)
  std::string activation;  ///< relu, tanh or linear
  torch::Tensor sign;      ///< [N] +1 excitatory / -1 inhibitory (all +1 without Dale's law); optional
};

/// F(h) for a batch of states h [K, N] -> [K, N] (float64).
torch::Tensor speed_field(const RateDynamics& d, const torch::Tensor& h);
/// J at one state h [N] -> [N, N] (closed form above).
torch::Tensor rate_jacobian(const RateDynamics& d, const torch::Tensor& h);

struct FixedPointOptions {
  int64_t initial_states = 64;   ///< random starts (plus any given)
  double init_scale = 1.0;       ///< starts ~ N(0, init_scale^2)
  int64_t iterations = 200;      ///< damped Newton steps on q(h) = 1/2 |F(h)|^2
  double tolerance = 1e-16;      ///< a start converged when q < tolerance (|F| ~ 1e-8)
  double merge_distance = 1e-4;  ///< fixed points closer than this (max-norm) are one
  uint64_t seed = 1;
};

struct FixedPoint {
  torch::Tensor h;            ///< [N]
  double q = 0;               ///< 1/2 |F(h)|^2 at the end
  torch::Tensor eigenvalues;  ///< [N] complex128, sorted by decreasing real part
  double spectral_edge = 0;
  bool stable = false;
  int64_t hits = 0;  ///< how many starts converged here
};

/// Damped Newton from many starts (rows of `starts` [K, N], or random ones when undefined),
/// deduplicated; sorted by decreasing hits.
std::vector<FixedPoint> find_fixed_points(const RateDynamics& d, const FixedPointOptions& options,
                                          const torch::Tensor& starts = {});

/// Statistics of a Jacobian's ingredients, for the comparison with a random ensemble.
struct JacobianStats {
  double density = 1;                  ///< share of nonzero off-diagonal W_ij
  double exc_fraction = 1;             ///< share of excitatory neurons
  double mean_exc = 0, mean_inh = 0;   ///< mean W_ij of E / I columns (nonzero entries)
  double var_exc = 0, var_inh = 0;     ///< their variances
  double gain_mean = 0, gain_std = 0;  ///< phi'(x*)
  double tau_mean = 0, tau_std = 0;
};
JacobianStats jacobian_stats(const RateDynamics& d, const torch::Tensor& h_star);

/// A random E/I matrix [N, N]: column j excitatory with probability exc_fraction (first
/// round(f N) columns), each synapse present with probability `density`, present entries
/// mean_pop + sd_pop * N(0, 1). With `balance`, each row of the random part is centred over its
/// present entries, so row sums equal their expectation exactly (Rajan & Abbott 2006).
torch::Tensor random_ei_matrix(int64_t n, double exc_fraction, double mean_exc, double sd_exc, double mean_inh,
                               double sd_inh, double density, bool balance, torch::Generator& gen);

/// The whole analysis as JSON: "fixed_points" (list), "jacobian_eigenvalues" ([[re, im], ...] at the
/// most visited fixed point), "spectral_edge", "stable", "jacobian_stats" and "random_ensemble"
/// (spectral edge mean/std over `ensemble` Jacobians drawn with the same statistics: W from
/// random_ei_matrix, gains and timescales resampled from the trained ones).
nlohmann::json dynamics_report(const RateDynamics& d, const FixedPointOptions& options, int64_t ensemble = 20);

}  // namespace sernn
