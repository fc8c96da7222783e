#pragma once
/// The boundary picture of low-rank E/I spiking networks (seed 002, Fig. 2), built from
/// sernn's own spiking model (SpikingRNN with rank 1, reset `none`).
///
/// A rank-1 population has W = E D^T, so every neuron sees the same latent readout
/// y = sum_j D_j r_j (r_j: spikes filtered with the membrane leak β) and its voltage is
///     V_i = F_i x̄ + E_i y + c_i            (x̄: the input filtered with the same β).
/// Neuron i fires when y crosses its threshold line y = (T_i - F_i x̄) / E_i, so the population
/// confines y below the lower envelope of all lines: a boundary in (x̄, y) space. With E_i > 0
/// and D_i < 0 (an inhibitory population) each spike pushes y back down and the leak pulls it
/// up again: a stable boundary. Tuning the lines as the tangents of y = -x^2 - 1/2 at N points
/// of [x_min, x_max] makes the boundary approximate that concave function; the self-connection
/// W_ii = E_i D_i does the reset. Precision: y stays within about |D| below the boundary.
///
/// The rank-2 E/I network (seed 002, sections 2.5-2.6; `network = "ei"`): N excitatory and N
/// inhibitory neurons with one latent per population (population_latents), y_E = sum D_E r_E
/// (D_E > 0) and y_I = sum D_I r_I (D_I < 0). Inhibitory thresholds tile the stable boundary
/// y_I = -p(x) - a y_E, excitatory ones the unstable boundary y_E = -q(x) - y_I (tangent planes
/// of the convex p, q; a = 2 > 1 is the stability condition). The latents settle where the two
/// boundaries cross, y_E* = (q - p) / (a - 1): with p = x^2 and q = p + (a - 1) g the network
/// computes g(x) = 0.6 + 0.2 sin(3x), a non-monotonic function, as a difference of convex ones.
/// Inhibitory decoders are 3x the excitatory ones so inhibition wins the race each time the
/// excitatory boundary is crossed (the seed lets one neuron fire per step; here all may).
#include <torch/torch.h>

#include "models/spiking_rnn.h"

namespace sernn {

struct BoundaryDemoOptions {
  std::string network = "inhibitory";  ///< "inhibitory" (rank 1) or "ei" (rank 2)
  int64_t neurons = 10;                ///< per population
  int64_t steps = 6000;                ///< the ramp of x from x_min to x_max (after `warmup` steps at x_min)
  int64_t warmup = 1000;
  double beta = 0.99;     ///< membrane and readout leak
  double decoder = 0.05;  ///< |D_i|: the jump of y per spike
  double x_min = -1.0, x_max = 1.0;
};

/// The tuned population as a SpikingRNN: 1 input; "inhibitory": N neurons, 1 readout = y;
/// "ei": N excitatory then N inhibitory neurons, readouts (y_E, y_I).
SpikingRNN make_boundary_population(const BoundaryDemoOptions& options);

struct BoundaryDemo {
  torch::Tensor x;           ///< [T] input
  torch::Tensor x_filtered;  ///< [T] x̄
  torch::Tensor y;           ///< [T] latent readout y(t) (after the spikes of step t); y_E for "ei"
  torch::Tensor
      boundary;  ///< "inhibitory": [T] lower envelope of the threshold lines at x̄(t) (with the bias transient)
  torch::Tensor target;    ///< [T] "inhibitory": -x̄^2 - 1/2; "ei": g(x̄), the crossing's y_E
  torch::Tensor y_i;       ///< "ei": [T] y_I
  torch::Tensor target_i;  ///< "ei": [T] the crossing's y_I = -p(x̄) - a g(x̄)
  torch::Tensor spikes;    ///< [T, N] ("ei": [T, 2N], excitatory first)
};

/// Runs the population on the ramp (float64).
BoundaryDemo run_boundary_demo(const BoundaryDemoOptions& options);

}  // namespace sernn
