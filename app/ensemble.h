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

#include "core/config.h"

namespace sernn {

/// Trains the members; returns each member's last metrics. InputError if the configs differ in
/// anything but regularizer.*, train.seed and train.inject_nan_batch, or are not rate models.
std::vector<nlohmann::json> train_rate_ensemble(const std::vector<Config>& configs, const std::vector<std::string>& out_dirs,
                                                bool quiet);

}  // namespace sernn
