#pragma once
/// NIR, the Neuromorphic Intermediate Representation (the `nir` package's 1.0 file layout: HDF5,
/// /version and the graph under /node), for spiking runs (issue 37): how a trained spiking seRNN
/// reaches neuromorphic hardware and other simulators, and how their networks come back.
///
/// The graph sernn writes, node by node (edges input → fc_in → rlif → fc_out → li → output):
///   input   Input    shape [I]
///   fc_in   Affine   weight W_in [N, I], bias b_in + b_rec [N] (both of sernn's biases, folded as
///                    the engine applies them)
///   rlif    NIRGraph the recurrent layer as snnTorch lays out RLeaky: input (Input [N]) → lif (LIF)
///                    → output (Output [N]), and lif → w_rec (Affine: W [N, N], bias 0) → lif
///   fc_out  Affine   weight W_out [C, N], bias b_out [C]
///   li      LI       the leaky readout
///   output  Output   shape [C]
/// with the graph's metadata: coords [N, 3], config (the run's config as JSON), reset, dt, epoch,
/// and input_bias / recurrent_bias (the unfolded biases, so that a file sernn wrote comes back
/// bit for bit).
///
/// Time. NIR's neurons are continuous, τ dv/dt = (v_leak − v) + r I; sernn's step is read as an
/// Euler step of dt = 1e-4 s, as snnTorch reads its own (so both read each other's files):
///   LIF  τ = dt / (1 − β) per neuron, r = τ / dt, v_leak = 0, v_threshold = θ, v_reset = 0:
///        one step is v ← β v + I, the spike v > θ;
///   LI   τ = dt / (1 − β_out) per class, r = τ / dt, v_leak = 0: u ← β_out u + I.
/// What NIR cannot express: a LIF resets to v_reset, so sernn's reset by subtraction (the default)
/// and subtract_decayed have no NIR form (they travel in the metadata's "reset"; a reader that
/// ignores it resets to zero); the surrogate gradient is training only (the config keeps it);
/// rate networks have no NIR form at all.
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "models/spiking_rnn.h"
#include "run/config.h"

namespace sernn {

/// NIR's time step for sernn's discrete step (snnTorch's convention).
constexpr double kNirDt = 1e-4;

/// A spiking network as a NIR graph holds it (float32 parameters as trained, float64 time
/// constants), plus what the metadata carries.
struct NirNetwork {
  torch::Tensor input_weight, input_bias;      ///< [N, I], [N] (folded: b_in + b_rec)
  torch::Tensor recurrent_weight;              ///< [N, N]
  torch::Tensor recurrent_bias;                ///< [N] (w_rec's bias; zero when sernn wrote it)
  torch::Tensor tau, readout_tau;              ///< [N], [C] float64 seconds
  double threshold = 1.0;                      ///< the same for every neuron
  torch::Tensor readout_weight, readout_bias;  ///< [C, N], [C]
  double dt = kNirDt;
  bool lif_readout = false;  ///< the readout as a LIF that never fires (v_threshold = inf), not a LI
  // Metadata (undefined / empty when the file has none).
  std::string reset;                                           ///< sernn's reset rule ("" : NIR's, to zero)
  std::string config;                                          ///< the run's config as JSON
  torch::Tensor coords;                                        ///< [N, 3] float64
  torch::Tensor unfolded_input_bias, unfolded_recurrent_bias;  ///< [N] each, when sernn wrote it
  int64_t epoch = 0;
};

/// The graph of `net` (a SpikingRNN on the fast or reference path, full or low rank: its
/// effective W), with the run's config, coordinates and epoch as metadata. InputError naming
/// what is missing for a network NIR cannot express.
NirNetwork nir_of(Network& net, const Config& config, const torch::Tensor& coords, int64_t epoch);

/// Writes `graph` to `path` (atomically) in the nir 1.0 layout above.
void write_nir(const std::string& path, const NirNetwork& graph);

/// Reads a NIR file of the shape above, written by sernn or by snnTorch (whose RLeaky is the
/// same subgraph; a spiking readout, LIF, is read as a leaky integrator: its threshold and reset
/// are dropped). Linear nodes are read as Affine with a zero bias. InputError naming the file and
/// the node for anything else: another graph shape, r ≠ τ / dt, v_leak ≠ 0, v_reset ≠ 0,
/// thresholds that differ between neurons, shapes that do not fit.
NirNetwork read_nir(const std::string& path);

/// sernn's β of a NIR time constant: 1 − dt / τ (float32, as sernn's parameter).
torch::Tensor beta_of_tau(const torch::Tensor& tau, double dt);

/// `graph`'s parameters put into `net` (built with the graph's sizes): the folded bias as the
/// input bias (or the unfolded pair when sernn wrote it), β and the readout's β from the time
/// constants. Its forward then computes the graph.
void load_nir(SpikingRNNImpl& net, const NirNetwork& graph);

/// `sernn export RUN --format nir`: writes the run's model of `epoch` (the last when negative)
/// to `out_path` and verifies it: read back, rebuilt, and its float64 forward compared with the
/// engine's (verify_export's tolerance); a file that fails is removed. Returns the max difference.
/// `lif_readout`: the readout written as a LIF that never fires (for snnTorch's import_from_nir,
/// which has no LI).
double export_run_nir(const std::string& run_dir, const std::string& out_path, int64_t epoch, bool lif_readout = false);

/// `sernn export --format F [--nir-readout li|lif]`: export_run ("torchscript") or export_run_nir
/// ("nir"); InputError naming --format or --nir-readout for another value.
double export_run_as(const std::string& format, const std::string& run_dir, const std::string& out_path, int64_t epoch,
                     const std::string& nir_readout = "li");

/// `sernn data import-nir`: a run directory at epoch 0 from a NIR file: config.json (the file's
/// own when sernn wrote it, else the spiking SHD defaults sized to the graph), coords.csv (from
/// the metadata, else `coords_csv`), the model and a checkpoint (`sernn train --resume` trains on).
void import_nir(const std::string& nir_path, const std::string& run_dir, const std::string& coords_csv);

}  // namespace sernn
