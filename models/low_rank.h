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
#include <torch/torch.h>

#include "models/spiking_rnn.h"

namespace sernn {

struct BoundaryDemoOptions {
  int64_t neurons = 10;
  int64_t steps = 6000;     ///< the ramp of x from x_min to x_max (after `warmup` steps at x_min)
  int64_t warmup = 1000;
  double beta = 0.99;       ///< membrane and readout leak
  double decoder = 0.05;    ///< |D_i|: the jump of y per spike
  double x_min = -1.0, x_max = 1.0;
};

/// The tuned population as a SpikingRNN (1 input, N neurons, 1 readout = y).
SpikingRNN make_boundary_population(const BoundaryDemoOptions& options);

struct BoundaryDemo {
  torch::Tensor x;           ///< [T] input
  torch::Tensor x_filtered;  ///< [T] x̄
  torch::Tensor y;           ///< [T] latent readout y(t) (after the spikes of step t)
  torch::Tensor boundary;    ///< [T] lower envelope of the threshold lines at x̄(t) (with the bias transient)
  torch::Tensor target;      ///< [T] -x̄^2 - 1/2
  torch::Tensor spikes;      ///< [T, N]
};

/// Runs the population on the ramp (float64).
BoundaryDemo run_boundary_demo(const BoundaryDemoOptions& options);

}  // namespace sernn
