#pragma once
/// From a resolved Config to the pieces of a run: threads, device, coordinates, task, network,
/// penalty. Shared by `sernn train` and the commands built on runs (sweep, export, analyze).
#include <memory>
#include <string>

#include "core/collective.h"
#include "core/interfaces.h"
#include "core/loss.h"
#include "core/parallel.h"
#include "core/trainer.h"
#include "regularizers/communicability.h"
#include "run/config.h"
#include "run/registry.h"

namespace sernn {

/// Applies train.threads (0 = auto) for the config's batch size and hidden size: sernn's pool
/// and LibTorch's intra-op threads (configure_threads, core/parallel.h); returns the choice.
ThreadChoice apply_threads(const Config& config);
/// The node strength of a run's penalty and analysis: regularizer.strength, or for `auto` the
/// model family's reference convention (out-strength for rate runs, whose Keras kernels store
/// presynaptic rows; in-strength for spiking runs, snnTorch's postsynaptic rows). The one place
/// that works the default out (penalties, `sernn analyze`, sweep results).
Strength config_strength(const Config& config);
/// config.json of a run: the config, plus "runtime" (threads chosen, cores available) when
/// train.threads = 0 left the choice to sernn; Config::from_json skips it.
nlohmann::json run_config_json(const Config& config, const ThreadChoice& threads);
/// A device name ("cpu", "cuda", "cuda:1") as a torch::Device; InputError naming `origin` (a key
/// or a flag) when it is unknown, or CUDA is asked for and not available.
torch::Device parse_device(const std::string& name, const std::string& origin);
/// train.device as a torch::Device (parse_device).
torch::Device resolve_device(const Config& config);
/// Neuron coordinates [N, 3] float64: model.coords (CSV) or model.grid; the count must equal
/// model.hidden (InputError naming the keys otherwise).
torch::Tensor resolve_coords(const Config& config);

std::shared_ptr<Task> make_task(const Config& config);
/// Input channels and classes of task.kind, without loading any data.
std::pair<int64_t, int64_t> task_shape(const Config& config);
/// The network for `config` on the CPU, initialised from train.seed.
std::shared_ptr<Network> make_network(const Config& config, int64_t inputs, int64_t classes);
/// The penalty of regularizer.* with the model family's defaults for `auto` settings.
std::shared_ptr<Penalty> make_config_penalty(const Config& config, const torch::Tensor& coords);

/// The loss of `config`, term by term (core/loss.h): the task, γ · `penalty` (make_config_penalty
/// of regularizer.*; ensemble members that differ only in γ share one object, so their penalty
/// terms are computed in one call), and the activity cost of activity.* when it is on.
std::vector<LossTerm> config_loss(const Config& config, std::shared_ptr<const Penalty> penalty);
/// The Trainer's options from train.* and checkpoint.* (out_dir, device and hooks left to the caller).
TrainerOptions trainer_options(const Config& config, bool quiet);

/// RUN_DIR/config.json as a Config; InputError if RUN_DIR holds no run.
Config read_run_config(const std::string& run_dir);

/// A trained run read back from its directory.
struct LoadedRun {
  Config config;
  torch::Tensor coords;              ///< [N, 3] float64
  std::shared_ptr<Network> network;  ///< on the CPU, eval mode
  int64_t inputs = 0, classes = 0, epoch = 0;
};
/// Loads RUN_DIR/config.json, coords.csv and the model of `epoch` (models/epoch_EEE.pt; the
/// last one when epoch < 0). InputError naming the file when anything is missing or foreign.
LoadedRun load_run(const std::string& run_dir, int64_t epoch = -1);

/// Estimated memory of one training run of `config` (parameters and Adam moments, a batch's
/// activations, the task's in-memory samples), in bytes; and of this machine.
double run_memory_bytes(const Config& config);
double physical_memory_bytes();
/// InputError if the model and task sizes of `config` cannot fit in this machine's memory.
void check_memory_fits(const Config& config);

/// Everything `sernn train` does once the config is resolved: writes config.json and
/// coords.csv in `out_dir`, builds the pieces and trains (resuming when asked).
/// With `collective`, this process is one rank of a data-parallel run (only rank 0 writes).
nlohmann::json train_run(const Config& config, const std::string& out_dir, bool resume, bool quiet,
                         std::shared_ptr<Collective> collective = nullptr);

}  // namespace sernn
