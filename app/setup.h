#pragma once
/// From a resolved Config to the pieces of a run: threads, device, coordinates, task, network,
/// penalty. Shared by `sernn train` and the commands built on runs (sweep, export, analyze).
#include <memory>
#include <string>

#include "core/config.h"
#include "core/interfaces.h"
#include "core/trainer.h"

namespace sernn {

/// Applies train.threads (0 = all cores) to LibTorch's intra-op pool; returns the count.
int64_t apply_threads(const Config& config);
/// train.device as a torch::Device; InputError if CUDA is asked for and not available.
torch::Device resolve_device(const Config& config);
/// Neuron coordinates [N, 3] float64: model.coords (CSV) or model.grid; the count must equal
/// model.hidden (InputError naming the keys otherwise).
torch::Tensor resolve_coords(const Config& config);

std::shared_ptr<Task> make_task(const Config& config);
/// The network for `config` on the CPU, initialised from train.seed.
std::shared_ptr<Network> make_network(const Config& config, const Task& task);
/// The penalty of regularizer.* with the model family's defaults for `auto` settings.
std::shared_ptr<Penalty> make_config_penalty(const Config& config, const torch::Tensor& coords);

/// Everything `sernn train` does once the config is resolved: writes config.json and
/// coords.csv in `out_dir`, builds the pieces and trains (resuming when asked).
nlohmann::json train_run(const Config& config, const std::string& out_dir, bool resume, bool quiet);

}  // namespace sernn
