#pragma once
/// TorchScript export of a trained run (`sernn export`). The saved module opens with
/// torch.jit.load (Python) and torch::jit::load (C++):
///   spiking: forward(x [T, B, 700]) -> (spikes [T, B, N], readout_mem [T, B, 20])
///   rate:    forward(x [T, B, C])   -> (hidden [T, B, N], logits [B, classes])
/// Parameters keep the engine's names (input.weight, recurrent.weight, beta, ...); attributes
/// `config_json` (the resolved config) and `coords` ([N, 3]).
#include <functional>
#include <string>
#include <utility>

#include <torch/script.h>
#include <torch/torch.h>

#include "run/config.h"
#include "core/interfaces.h"

namespace sernn {

/// Builds the TorchScript module for `net`: its model entry's forward (run/registry.h) plus the
/// attributes config_json and coords.
torch::jit::Module script_network(Network& net, const Config& config, const torch::Tensor& coords);

/// How far, relative to the outputs' scale (at least 1), a saved module may differ from the
/// engine's forward in float64: summation order alone moves them by ~1e-15.
constexpr double kExportTolerance = 1e-9;

/// The max abs difference between the engine's outputs (the pair an exported forward returns) and
/// `other`'s on the same batch; throws std::runtime_error naming `other_name` when it is over
/// kExportTolerance x the outputs' scale (at least 1), or when the shapes differ.
double compare_outputs(const std::pair<torch::Tensor, torch::Tensor>& engine,
                       const std::pair<torch::Tensor, torch::Tensor>& other, const std::string& other_name);

/// `verify()` of the file just written to `out_path`; when it throws, the file is removed and the
/// error rethrown (a std::runtime_error saying so).
double verified_or_removed(const std::string& out_path, const std::function<double()>& verify);

/// Compares `module` (a saved export of `net`, a `kind` model with `inputs` inputs) with the
/// engine's forward on `batch` [T, B, inputs] (undefined: a seeded random one), both in float64: `net` and `module` are turned to
/// float64 (callers pass copies they no longer need). Returns the max abs difference; throws
/// std::runtime_error naming it when it is over kExportTolerance x the outputs' scale (another
/// weight, a wrong reset rule, a missing bias), or when the output shapes differ.
double verify_export(Network& net, const std::string& kind, torch::jit::Module module, int64_t inputs,
                     const torch::Tensor& batch = {});

/// Exports the run in `run_dir` (model of epoch `epoch`, or the last one when negative) to
/// `out_path`, then loads the file back and verifies it (verify_export); a file that fails is
/// removed and the error rethrown. Returns the max abs difference.
double export_run(const std::string& run_dir, const std::string& out_path, int64_t epoch);

}  // namespace sernn
