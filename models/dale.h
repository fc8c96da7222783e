#pragma once
/// Excitatory/inhibitory populations with Dale's law, and fixed sparse connectivity (seeds
/// 002, 004). The recurrent weight a network uses is
///     W = abs(W_raw) * mask,   mask[i, j] = sign_j * connected[i, j],
/// with sign_j = +1 for excitatory and -1 for inhibitory presynaptic neurons j, so gradient
/// steps on W_raw can never flip a synapse's sign, and absent synapses stay absent.
#include <torch/torch.h>

namespace sernn {

struct DaleOptions {
  bool enabled = false;          ///< sign-constrain the columns (else every sign_j = +1 and abs is not applied)
  double exc_fraction = 0.8;     ///< share of excitatory neurons (rounded; at least one of each)
  double connectivity = 1.0;     ///< probability of each off-diagonal synapse (diagonal kept)
  double spectral_radius = 1.0;  ///< the initial W is rescaled to about this radius (circular law)
  bool any() const { return enabled || connectivity < 1.0; }
};

/// The neuron signs [N] (+1 E, -1 I), drawn as a random placement from the global generator, and
/// the signed mask [N, N]. Without Dale's law the signs are all +1.
struct DaleMask {
  torch::Tensor sign;  ///< [N] float
  torch::Tensor mask;  ///< [N, N] float, sign_j * connected[i, j]
};
DaleMask make_dale_mask(int64_t n, const DaleOptions& options);

/// The effective weight: abs(raw) * mask with Dale's law, raw * mask with only a sparse mask,
/// raw itself when neither is on.
torch::Tensor masked_weight(const torch::Tensor& raw, const DaleMask& m, const DaleOptions& options);

/// For a model's constructor: draws the mask, initialises `raw` (init_dale_weight_) and registers
/// the buffers `neuron_sign` and `recurrent_mask` on `module`, when options.any(); otherwise
/// returns all-plus signs and registers nothing.
DaleMask register_dale(torch::nn::Module& module, torch::Tensor& raw, const DaleOptions& options);

/// Initialises `raw` (in place, no grad) so that the effective weight is a balanced E/I matrix:
/// magnitudes |N(0, 1)|, each row's inhibitory weights scaled so that they cancel its excitatory
/// ones exactly, then the whole matrix scaled so sqrt(N * mean_j Var_i(W_ij)) equals the target
/// radius (the circular-law estimate of the spectral radius). Without Dale's law the model's own
/// initialisation is kept and only the absent synapses are zeroed.
void init_dale_weight_(torch::Tensor& raw, const DaleMask& m, const DaleOptions& options);

}  // namespace sernn
