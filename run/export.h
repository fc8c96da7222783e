#pragma once
/// TorchScript export of a trained run (`sernn export`). The saved module opens with
/// torch.jit.load (Python) and torch::jit::load (C++):
///   spiking: forward(x [T, B, 700]) -> (spikes [T, B, N], readout_mem [T, B, 20])
///   rate:    forward(x [T, B, C])   -> (hidden [T, B, N], logits [B, classes])
/// Parameters keep the engine's names (input.weight, recurrent.weight, beta, ...); attributes
/// `config_json` (the resolved config) and `coords` ([N, 3]).
#include <string>

#include <torch/script.h>
#include <torch/torch.h>

#include "run/config.h"
#include "core/interfaces.h"

namespace sernn {

/// Builds the TorchScript module for `net`: its model entry's forward (run/registry.h) plus the
/// attributes config_json and coords.
torch::jit::Module script_network(Network& net, const Config& config, const torch::Tensor& coords);

/// Exports the run in `run_dir` (model of epoch `epoch`, or the last one when negative) to
/// `out_path`, then loads the file back and checks its outputs against the engine's forward on
/// a random batch; throws std::runtime_error on any mismatch. Returns the max abs difference.
double export_run(const std::string& run_dir, const std::string& out_path, int64_t epoch);

}  // namespace sernn
