#pragma once
/// Ensembles (issue 16): K runs that share architecture and task sizes (they may differ in
/// regulariser group, γ and seed) trained at once as one batched model by the Trainer, each
/// with its own data order, noise, initialisation, Adam moments, run directory and status,
/// giving what K separate `sernn train` runs give (to float tolerance).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run/config.h"

namespace sernn {

/// Trains `configs` as one ensemble: a RateEnsemble (plain rate networks), a SpikingStack (plain
/// fast-path spiking networks: stacked parameters) or a SpikingEnsemble (other spiking networks),
/// a run directory per member (config.json, coords.csv, metrics.jsonl, snapshots, status.json)
/// and the ensemble's checkpoint and status in `ensemble_dir`; `resume` continues from that
/// checkpoint. A member that diverges is marked `diverged` and the others finish. Returns each
/// member's last metrics. InputError if the configs differ in anything but regularizer.*,
/// train.seed and the fault-injection keys, or ask for what ensembles do not implement.
std::vector<nlohmann::json> train_ensemble(const std::vector<Config>& configs, const std::vector<std::string>& dirs,
                                           const std::string& ensemble_dir, bool resume, bool quiet);

/// Free memory measured now: the device's (CUDA) or the machine's available RAM (MemAvailable).
double available_memory_bytes(const std::string& device);
/// Ensemble size for `--ensemble auto`: as many of `pending` runs of `base` as fit in half the
/// memory measured now (at most 1024).
int64_t auto_ensemble_size(const Config& base, int64_t pending);

}  // namespace sernn
