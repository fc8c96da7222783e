#pragma once
/// Spiking seRNN for SHD (DESIGN §3): inputs -> Linear -> recurrent LIF (N) -> Linear ->
/// non-spiking leaky readout (classes). Parameters: input.weight/bias, recurrent.weight/bias,
/// beta [N] (learnable per neuron), readout.weight/bias; buffer readout_beta [classes].
///
/// β is initialised from τ ~ Gamma(3, τ_mean/3), β = exp(-Δt/τ) clipped to [beta_min,
/// beta_max], and (with beta_clip) clipped again after every optimiser step. The logits are
/// the maximum (or sum) over time of the readout membrane (snnTorch ce_max_membrane_loss).
/// Options: Dale's law and sparse masks (dale.h), low-rank W (rank; models/low_rank.h shows
/// the rank-1 boundary picture of seed 002).
#include <torch/torch.h>

#include "core/interfaces.h"
#include "models/dale.h"
#include "models/lif.h"
#include "models/lif_sequence.h"

namespace sernn {

struct SpikingRNNOptions {
  SpikingRNNOptions(int64_t inputs, int64_t hidden, int64_t outputs)
      : inputs_(inputs), hidden_(hidden), outputs_(outputs) {}
  TORCH_ARG(int64_t, inputs);
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(int64_t, outputs);
  TORCH_ARG(ResetMode, reset) = ResetMode::Subtract;
  TORCH_ARG(double, threshold) = 1.0;
  TORCH_ARG(double, slope) = 100.0;
  TORCH_ARG(double, dt_ms) = 0.5;
  TORCH_ARG(double, tau_mean_ms) = 20.0;
  TORCH_ARG(bool, learn_beta) = true;
  TORCH_ARG(bool, beta_clip) = true;
  TORCH_ARG(double, beta_min) = 0.7165313105737893;      // exp(-1/3): τ >= 3 Δt
  TORCH_ARG(double, beta_max) = 0.995;                   // τ <= 100 ms
  TORCH_ARG(double, readout_beta) = 0.9753099120283326;  // exp(-0.5 / 20)
  TORCH_ARG(bool, sum_readout) = false;                  ///< logits = sum over time instead of max
  /// `reference`: plain per-step LibTorch ops (one autograd graph node per op and step);
  /// `fast` (default): lif_network, one autograd node for the whole time loop.
  TORCH_ARG(bool, reference) = false;
  /// Dale's law / sparse connectivity of the recurrent weight (see dale.h).
  TORCH_ARG(DaleOptions, dale);
  /// Low-rank recurrent connectivity (seed 002): rank R > 0 gives W = L R^T from the
  /// parameters rank_left [N, R] and rank_right [N, R]; with Dale's law
  /// W = |L| (|R| * sign)^T, so presynaptic signs hold. 0 = full-rank W (recurrent.weight).
  TORCH_ARG(int64_t, rank) = 0;
  /// With Dale's law and rank >= 2: each latent reads one population (latent r the excitatory
  /// neurons for even r, the inhibitory ones for odd r), so rank 2 is seed 002's E/I network
  /// W_ij = E_i,pop(j) D_j with one E and one I readout. Otherwise every latent reads all neurons.
  TORCH_ARG(bool, population_latents) = false;
  /// false: the recurrent weight is held at zero and not trained (full rank only): the network
  /// without its recurrence, trained as such (issue 38's control for tasks that need W).
  TORCH_ARG(bool, recurrent) = true;
};

/// What one forward pass records.
struct SpikingTrace {
  torch::Tensor spikes;       ///< [T, B, N] hidden spikes
  torch::Tensor readout_mem;  ///< [T, B, classes] readout membrane
};

/// What run() returns, from the readout membrane [..., T, B, C] and the spike counts [..., B, N]
/// (a leading member dimension K is kept): logits = max (or, with sum_readout, sum) over time,
/// activity = counts / T, stats rate_hidden = mean activity (per member).
NetworkOutput spiking_output(const torch::Tensor& readout_mem, const torch::Tensor& counts, bool sum_readout);

class SpikingRNNImpl : public Network {
 public:
  explicit SpikingRNNImpl(SpikingRNNOptions options);
  void reset();

  /// inputs: [T, B, inputs] (event counts) -> hidden spikes and readout membrane over time.
  SpikingTrace simulate(const torch::Tensor& inputs);
  /// activity: spikes per time step of each neuron, [B, N].
  NetworkOutput run(const torch::Tensor& inputs, bool training) override;
  /// The fast path reads sparse COO inputs through the sparse projection; the reference does not.
  bool takes_sparse_inputs() const override { return !options.reference(); }
  /// The feed-forward current of all T steps, [T, B, N], both biases folded in (the fast path's
  /// drive). `sparse`: the inputs' nonzeros, when the caller has them already (ensemble members
  /// that share a batch); otherwise input_projection decides.
  torch::Tensor drive(const torch::Tensor& inputs, const SparseInput* sparse = nullptr);
  /// The effective W (signed and masked under Dale's law / sparse connectivity).
  torch::Tensor recurrent_weight() override;
  /// The pruning target: recurrent.weight (full rank only; low-rank W has no per-synapse parameter).
  torch::Tensor recurrent_parameter() override;
  torch::Tensor neuron_sign() const { return dale_.sign; }
  /// The signs and the mask of Dale's law / a sparse mask (models/dale.h; the mask undefined without).
  const DaleMask& dale_mask() const { return dale_; }
  /// Clips β to [beta_min, beta_max] (if beta_clip).
  void after_step() override;
  std::map<std::string, double> parameter_stats() override;

  SpikingRNNOptions options;
  torch::nn::Linear input{nullptr}, recurrent{nullptr}, readout{nullptr};
  torch::Tensor beta, readout_beta;
  /// Low-rank factors (defined when options.rank() > 0; recurrent.weight is then unused,
  /// zero and frozen).
  torch::Tensor rank_left, rank_right;
  torch::Tensor latent_mask;  ///< [N, R] which latents each neuron feeds (population_latents)

 private:
  LifNetworkTrace forward_fast(const torch::Tensor& inputs);
  DaleMask dale_;
};
TORCH_MODULE(SpikingRNN);

}  // namespace sernn
