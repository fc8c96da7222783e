#pragma once
/// Ensemble training: K rate-network runs that share architecture and task sizes (they may
/// differ in regulariser group, γ and seed) trained at once as one RateEnsemble, each with its
/// own data order, noise, initialisation and Adam moments, giving what K separate `sernn train`
/// runs give (to float tolerance). Each member gets a run directory with config.json,
/// coords.csv, metrics.jsonl, weights/, models/ and status.json (no checkpoint.pt: an
/// interrupted ensemble starts again).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run/config.h"
#include "run/sweep.h"

namespace sernn {

/// Trains the members; returns each member's last metrics. InputError if the configs differ in
/// anything but regularizer.*, train.seed and train.inject_nan_batch, or are not rate models.
std::vector<nlohmann::json> train_rate_ensemble(const std::vector<Config>& configs, const std::vector<std::string>& out_dirs,
                                                bool quiet);

/// Like run_sweep, but trains the pending runs `ensemble` at a time in this process as one
/// batched rate model (app/ensemble.h). An interrupted ensemble's members start again.
int64_t run_sweep_ensembles(const Config& base, const std::vector<SweepRun>& runs, const std::vector<SweepRun>& all,
                            const SweepOptions& options, int64_t ensemble);
/// Ensemble size for `--ensemble auto`: as many of `pending` runs as fit in half the memory.
int64_t auto_ensemble_size(const Config& base, int64_t pending);

}  // namespace sernn
