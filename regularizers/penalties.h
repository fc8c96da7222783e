#pragma once
/// The wiring and communication costs of DESIGN §2, one small family over A = |W|:
///
///     l1     Σ_ij A_ij
///     space  Σ_ij A_ij D_ij
///     comm   Σ_ij A_ij C_ij
///     sernn  Σ_ij A_ij D_ij C_ij
///
/// with D the Euclidean distance matrix of the neuron positions and C the communicability
/// (communicability.h) with its diagonal set to 0 and raised to `comms_factor`. Plain sums,
/// never means; gamma is applied by the training loop. Weights [N, N] give a scalar, batched
/// [K, N, N] give [K] (one value per network of an ensemble).
///
/// Plus the resolvent penalty of the R-RNN paper (seed 003): Σ_ij A_ij R_ij (off-diagonal) with
/// R = (I - alpha Â)^-1 = Σ_k alpha^k Â^k, Â = S_in^-1 A the row-normalised A, whose spectral
/// radius is at most 1, so the series converges for alpha < 1.
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/interfaces.h"
#include "regularizers/communicability.h"

namespace sernn {

/// How the communicability term is differentiated: `Full` (analytic adjoint through expm, S
/// and |W|), `Detached` (C is a constant), or `AutogradMatrixExp` (LibTorch autograd through
/// torch::linalg_matrix_exp; the slow baseline kept for tests and benchmarks).
enum class CommGrad { Full, Detached, AutogradMatrixExp };

struct WiringPenaltyOptions {
  std::string kind = "sernn";  ///< l1, space, comm, sernn
  torch::Tensor distance;      ///< [N, N]; required for space and sernn
  CommGrad comm_grad = CommGrad::Full;
  Strength strength = Strength::Out;
  double comms_factor = 1.0;
};

class WiringPenalty : public Penalty {
 public:
  explicit WiringPenalty(WiringPenaltyOptions options);
  std::string name() const override { return options_.kind; }
  torch::Tensor operator()(const torch::Tensor& weight) const override;
  /// The communicability term used by the penalty (zero diagonal, ^comms_factor).
  torch::Tensor comm_term(const torch::Tensor& weight) const;

 private:
  const torch::Tensor& distance_like(const torch::Tensor& w) const;
  WiringPenaltyOptions options_;
  bool uses_distance_, uses_comm_;
  mutable torch::Tensor distance_cache_;  // D on the weights' device and dtype
};

class ResolventPenalty : public Penalty {
 public:
  explicit ResolventPenalty(double alpha) : alpha_(alpha) {}
  std::string name() const override { return "resolvent"; }
  torch::Tensor operator()(const torch::Tensor& weight) const override;
  double alpha() const { return alpha_; }

 private:
  double alpha_;
};

/// Â = S_in^-1 |W| with zero rows kept at zero.
torch::Tensor row_normalized_abs(const torch::Tensor& weight);
/// R = (I - alpha Â)^-1.
torch::Tensor resolvent(const torch::Tensor& weight, double alpha);
/// Hop-length decomposition: [K, ...] stack of alpha^k Â^k for k = 1..K (their sum plus I
/// tends to R as K grows).
torch::Tensor resolvent_hops(const torch::Tensor& weight, double alpha, int64_t max_hops);

/// The wiring family's kinds (l1, space, comm, sernn), and whether a kind needs distances.
const std::vector<std::string>& wiring_penalty_names();
bool wiring_penalty_uses_distance(const std::string& kind);
/// The config's spellings (DESIGN §7) of the node strength ("in", "out") and the gradient mode
/// ("full", "detached", "autograd" = AutogradMatrixExp); InputError naming the value otherwise.
Strength parse_strength(const std::string& name);
CommGrad parse_comm_grad(const std::string& name);
/// Names accepted by make_penalty, for error messages and --help.
const std::vector<std::string>& penalty_names();

/// Factory keyed by name (none, l1, space, comm, sernn, resolvent). Returns nullptr for "none".
/// Unknown names throw InputError listing the known ones.
/// Metabolic cost on per-neuron activity a [B, N] (NetworkOutput::activity: spikes per step, or
/// the mean rate), averaged over the batch and summed over neurons:
///   "l2":   sum_i a_i^2
///   "band": sum_i relu(low - a_i)^2 + relu(a_i - high)^2   (rates outside [low, high] cost)
torch::Tensor activity_cost(const torch::Tensor& activity, const std::string& kind, double low, double high);

std::shared_ptr<Penalty> make_penalty(const std::string& kind, WiringPenaltyOptions options, double resolvent_alpha);

}  // namespace sernn
