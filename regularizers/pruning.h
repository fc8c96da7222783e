#pragma once
/// Magnitude pruning of the recurrent weights during training (seed 001: resource constraints).
///
/// At the end of every epoch e in [start_epoch, end_epoch] the smallest-magnitude entries of the
/// effective recurrent weight W are removed until the scheduled share of its N^2 entries is zero:
///     s(e) = s_final * (1 - (1 - p)^3)   (cubic, Zhu & Gupta 2017),   s(e) = s_final * p   (linear),
///     s(e) = s_final                     (once),
/// with p = (e - start + 1) / (end - start + 1), so s reaches s_final at end_epoch and stays.
/// Removed synapses stay removed: the keep mask only ever loses entries, lives as the buffer
/// `prune_mask` of the network (so checkpoints, resumes and saved models carry it) and is
/// multiplied into the raw recurrent parameter after every optimiser step. Every model maps a
/// zero raw entry to a zero effective entry (W = raw, raw * mask or |raw| * mask), so the
/// network never runs with a pruned synapse.
#include <map>
#include <string>

#include <torch/torch.h>

#include "core/interfaces.h"

namespace sernn {

struct PruningOptions {
  double final_sparsity = 0.0;     ///< share of zero entries of W after end_epoch (0 = off)
  int64_t start_epoch = 1;         ///< first epoch whose end prunes
  int64_t end_epoch = 0;           ///< epoch whose end reaches final_sparsity (0 = the last epoch)
  std::string schedule = "cubic";  ///< cubic | linear | once
  bool enabled() const { return final_sparsity > 0.0; }
};

/// The target share of zero entries after epoch `epoch` of `epochs` (0 before start_epoch).
double scheduled_sparsity(const PruningOptions& options, int64_t epoch, int64_t epochs);

/// Keep mask (1 keep, 0 prune) that zeroes the round(sparsity * numel) smallest |w| (ties in
/// index order), never keeping an entry `previous` (if defined) has already removed.
torch::Tensor magnitude_keep_mask(const torch::Tensor& w, double sparsity, const torch::Tensor& previous = {});

/// Registers the all-ones [N, N] buffer `prune_mask` on `network` (done when the network is
/// built, before a checkpoint or saved model is loaded into it).
void register_prune_mask(Network& network);

/// Share of exactly-zero entries of a matrix.
double zero_fraction(const torch::Tensor& w);

/// Drives the schedule for one network (which must have the `prune_mask` buffer).
class MagnitudePruner {
 public:
  MagnitudePruner(Network& network, PruningOptions options, int64_t epochs);
  /// Zeroes the pruned entries of the raw recurrent parameter (after every optimiser step).
  void apply();
  /// Prunes to the schedule's target for `epoch` (if it rises) and returns the metrics
  /// `sparsity` (zero share of W) and `prune_target`.
  std::map<std::string, double> epoch_end(int64_t epoch);

 private:
  torch::Tensor mask();
  Network& net_;
  PruningOptions opt_;
  int64_t epochs_;
};

}  // namespace sernn
