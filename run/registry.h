#pragma once
/// The explicit registry of what a config can name: models (model.kind), tasks (task.kind) and
/// penalties (regularizer.kind). Each entry is declared once, in its own file
/// (run/model_rate.cpp, run/task_shd.cpp, run/penalties.cpp, ...): its name, the config keys it
/// reads with their checks, its factory and, for models, its TorchScript export. The one list of
/// entries is run/registry.cpp; adding a model touches its own files and that list. No static
/// self-registration (static libraries silently drop it).
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "core/interfaces.h"
#include "run/config.h"

namespace sernn {

struct ModelEntry {
  std::string name;
  std::string summary;
  std::vector<ConfigKey> keys;  ///< the model.* keys only this family reads
  /// The network of `config` on the CPU, initialised from train.seed; InputError for settings
  /// that contradict each other (naming the keys).
  std::function<std::shared_ptr<Network>(const Config&, int64_t inputs, int64_t classes)> make;
  /// A TorchScript module holding the trained network and its forward (run/export.h adds the
  /// config and coordinates).
  std::function<torch::jit::Module(Network&)> script;
  /// The engine's own outputs for x [T, B, inputs], the pair the exported forward returns
  /// (export_run compares the two).
  std::function<std::pair<torch::Tensor, torch::Tensor>(Network&, const torch::Tensor&)> outputs;
  /// An input batch [T, B, inputs] to verify the export with.
  std::function<torch::Tensor(int64_t T, int64_t B, int64_t inputs)> example_input;
};

/// Sizes of a task that are known without loading any data.
struct TaskShape {
  int64_t inputs = 0;
  int64_t classes = 0;
  int64_t steps = 0;              ///< time steps of a sample (the longest, for binned data)
  int64_t samples_in_memory = 0;  ///< samples the task holds in memory (synthetic tasks: all splits)
};

struct TaskEntry {
  std::string name;
  std::string summary;
  std::vector<ConfigKey> keys;
  std::function<std::shared_ptr<Task>(const Config&)> make;
  std::function<TaskShape(const Config&)> shape;
};

struct PenaltyEntry {
  std::string name;
  std::string summary;
  std::vector<ConfigKey> keys;
  /// The penalty of `config` for neurons at `coords` [N, 3]; nullptr for "none".
  std::function<std::shared_ptr<Penalty>(const Config&, const torch::Tensor& coords)> make;
};

/// The lists, in the order --help and error messages show them.
const std::vector<ModelEntry>& model_registry();
const std::vector<TaskEntry>& task_registry();
const std::vector<PenaltyEntry>& penalty_registry();

/// The entry named `name`; InputError naming `key` and listing the known names otherwise.
const ModelEntry& find_model(const std::string& name, const std::string& key = "model.kind");
const TaskEntry& find_task(const std::string& name, const std::string& key = "task.kind");
const PenaltyEntry& find_penalty(const std::string& name, const std::string& key = "regularizer.kind");

/// The names of a list's entries.
template <class Entry>
std::vector<std::string> entry_names(const std::vector<Entry>& entries) {
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  return names;
}

// The entries, each defined in its own file.
ModelEntry rate_model_entry();                // run/model_rate.cpp
ModelEntry spiking_model_entry();             // run/model_spiking.cpp
TaskEntry onechoice_task_entry();             // run/task_onechoice.cpp
TaskEntry delayed_match_task_entry();         // run/task_delayed_match.cpp
TaskEntry hierarchical_task_entry();          // run/task_hierarchical.cpp
TaskEntry shd_task_entry();                   // run/task_shd.cpp
std::vector<PenaltyEntry> penalty_entries();  // run/penalties.cpp: none, the wiring family, resolvent

}  // namespace sernn
