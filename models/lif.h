#pragma once
/// Leaky integrate-and-fire layers with snnTorch semantics (DESIGN §3), time-major and
/// stateless: the caller owns the state, so one loop serves every cell.
///
/// Recurrent LIF (snnTorch RLeaky, all-to-all recurrent Linear with bias):
///     reset_t = H(V_t - thr)                       (Heaviside, detached)
///     V_{t+1} = β V_t + I_{t+1} + W s_t + b - reset_t thr        reset = subtract (default)
///     V_{t+1} = β (V_t - reset_t thr) + I_{t+1} + W s_t + b      reset = subtract_decayed (snnTorch <= 0.6)
///     V_{t+1} = (1 - reset_t)(β V_t + I_{t+1} + W s_t + b)        reset = zero
///     V_{t+1} = (1 - reset_t) β V_t + I_{t+1} + W s_t + b        reset = zero_immediate
///                                         (snnTorch reset_delay=False; NIR's LIF, v_reset = 0)
///     V_{t+1} = β V_t + I_{t+1} + W s_t + b                      reset = none
///     s_{t+1} = H(V_{t+1} - thr)   forward;   ds/dV = 1 / (slope |V - thr| + 1)^2   backward
/// β is clamped to [0, 1] inside the step (as snnTorch), per neuron.
#include <string>

#include <torch/torch.h>

#include "models/lif_math.h"  // ResetMode and the per-neuron step arithmetic

namespace sernn {

/// Parses "subtract", "subtract_decayed", "zero", "zero_immediate", "none" (InputError otherwise).
ResetMode parse_reset(const std::string& name);

/// Heaviside spike H(x) (x = V - thr) with the fast-sigmoid surrogate gradient
/// 1 / (slope |x| + 1)^2 (snnTorch surrogate.fast_sigmoid).
torch::Tensor spike_fn(const torch::Tensor& x, double slope);

/// State of a LIF population: membrane and spikes, each [B, N].
struct LifState {
  torch::Tensor mem, spk;
};

/// One step of a leaky population. `current`: the summed input [B, N] (feed-forward plus
/// recurrent, bias included); beta: [N] (clamped to [0, 1] here); state: previous (V_t, s_t).
/// Returns (V_{t+1}, s_{t+1}). With `fire` false the population never spikes (a readout).
LifState lif_step(const torch::Tensor& current, const torch::Tensor& beta, const LifState& state, double threshold,
                  double slope, ResetMode reset, bool fire = true);

}  // namespace sernn
