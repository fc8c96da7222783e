// The one list of models, tasks and penalties, and the config schema assembled from them: the
// keys of every concern that is not an entry's own (network shape, training, costs, pruning,
// checkpoints) are the data tables below; each entry adds the keys it declares.
#include "run/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/errors.h"
#include "run/entries.h"

namespace sernn {

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> list{rate_model_entry(), spiking_model_entry()};
  return list;
}

const std::vector<TaskEntry>& task_registry() {
  static const std::vector<TaskEntry> list{onechoice_task_entry(), delayed_match_task_entry(),
                                           hierarchical_task_entry(), shd_task_entry()};
  return list;
}

const std::vector<PenaltyEntry>& penalty_registry() {
  static const std::vector<PenaltyEntry> list = penalty_entries();
  return list;
}

namespace {

template <class Entry>
const Entry& find_entry(const std::vector<Entry>& list, const std::string& name, const std::string& key,
                        const char* what) {
  for (const auto& e : list)
    if (e.name == name) return e;
  // `key` is a config key or a command-line flag (--groups).
  const auto where = key.rfind("--", 0) == 0 ? key : fmt::format("key '{}'", key);
  throw InputError(
      fmt::format("{}: unknown {} '{}' (known: {})", where, what, name, fmt::join(entry_names(list), ", ")));
}

using T = ConfigKey::Type;
constexpr double inf = 1e300;

/// Appends `keys`, skipping names already present (entries may share keys, e.g. task.noise).
void append_keys(std::vector<ConfigKey>& schema, const std::vector<ConfigKey>& keys) {
  for (const auto& k : keys) {
    bool seen = false;
    for (const auto& s : schema) seen |= s.name == k.name;
    if (!seen) schema.push_back(k);
  }
}

std::vector<ConfigKey> network_keys() {
  return {
      key("model.kind", T::String, "rate", "network family", -inf, inf, entry_names(model_registry())),
      key("model.hidden", T::Int, 100, "number of hidden neurons N", 1, 65536),
      key("model.grid", T::IntList, Json::array({5, 5, 4}), "neuron grid (x, y, z); product must be N", 1, 4096),
      key("model.coords", T::String, "", "N x 3 CSV of neuron coordinates (overrides model.grid)"),
      key("model.impl", T::String, "fast", "time-loop implementation", -inf, inf, {"fast", "reference"}),
      key("model.dale", T::Bool, false, "Dale's law: excitatory and inhibitory neurons, sign-constrained W"),
      key("model.exc_fraction", T::Float, 0.8, "Dale's law: share of excitatory neurons", 1e-6, 0.999999),
      key("model.connectivity", T::Float, 1.0, "probability of each recurrent synapse (fixed sparse mask)", 1e-6, 1.0),
      key("model.spectral_radius", T::Float, 1.0, "Dale/sparse init: target spectral radius of W", 0.0, 1e3),
  };
}

std::vector<ConfigKey> train_keys() {
  return {
      key("train.epochs", T::Int, 10, "training epochs", 0, 1e6),
      key("train.batch_size", T::Int, 128, "minibatch size", 1, 1e7),
      key("train.lr", T::Float, 1e-3, "Adam learning rate", 1e-12, 1e3),
      key("train.seed", T::Int, 1, "random seed", 0, 9.2e18),
      key("train.threads", T::Int, 0,
          "CPU threads (0 = auto: from the batch size and the cores available; see config.json's runtime)", 0, 4096),
      key("train.device", T::String, "cpu", "cpu or cuda[:i]"),
      key("train.grad_clip", T::Float, 0.0, "clip the global gradient norm to this value (0 = off)", 0.0, 1e12),
      key("train.inject_nan_batch", T::Int, 0, "testing: make the loss NaN at this global batch (0 = off)", 0, 9.2e18),
      key("train.stop_after_batch", T::Int, 0, "testing: stop as on SIGTERM after this global batch (0 = off)", 0,
          9.2e18),
      key("train.deterministic", T::Bool, false, "use only deterministic kernels (matters on CUDA)"),
      key("train.log_every", T::Int, 10, "batches between progress log lines (non-terminal output)", 1, 1e9),
  };
}

std::vector<ConfigKey> cost_keys() {
  return {
      key("activity.kind", T::String, "none", "activity (metabolic) cost on per-neuron rates", -inf, inf,
          {"none", "l2", "band"}),
      key("activity.gamma", T::Float, 0.0, "strength of the activity cost", 0.0, 1e6),
      key("activity.low", T::Float, 0.0, "band: lower edge of the free rate band (spikes per step / mean rate)", -1e9,
          1e9),
      key("activity.high", T::Float, 1.0, "band: upper edge of the free rate band", -1e9, 1e9),
      key("regularizer.kind", T::String, "none", "wiring/communication cost", -inf, inf,
          entry_names(penalty_registry())),
      key("regularizer.gamma", T::Float, 0.0, "cost strength", 0.0, 1e6),
  };
}

std::vector<ConfigKey> prune_checkpoint_keys() {
  return {
      key("prune.final_sparsity", T::Float, 0.0,
          "magnitude pruning: share of zero recurrent weights at the end (0 = off)", 0.0, 0.999),
      key("prune.start_epoch", T::Int, 1, "magnitude pruning: first epoch whose end prunes", 1, 1e6),
      key("prune.end_epoch", T::Int, 0, "magnitude pruning: epoch that reaches final_sparsity (0 = last epoch)", 0,
          1e6),
      key("prune.schedule", T::String, "cubic", "magnitude pruning: how the target rises between start and end", -inf,
          inf, {"cubic", "linear", "once"}),
      key("checkpoint.every_minutes", T::Float, 0.0, "extra checkpoints during an epoch (0 = epoch ends only)", 0.0,
          1e6),
  };
}

std::vector<ConfigKey> make_schema() {
  std::vector<ConfigKey> schema = network_keys();
  for (const auto& m : model_registry()) append_keys(schema, m.keys);
  append_keys(schema, {key("task.kind", T::String, "onechoice", "task", -inf, inf, entry_names(task_registry()))});
  for (const auto& t : task_registry()) append_keys(schema, t.keys);
  append_keys(schema, train_keys());
  append_keys(schema, cost_keys());
  for (const auto& p : penalty_registry()) append_keys(schema, p.keys);
  append_keys(schema, prune_checkpoint_keys());
  return schema;
}

}  // namespace

const ModelEntry& find_model(const std::string& name, const std::string& key) {
  return find_entry(model_registry(), name, key, "model");
}
const TaskEntry& find_task(const std::string& name, const std::string& key) {
  return find_entry(task_registry(), name, key, "task");
}
const PenaltyEntry& find_penalty(const std::string& name, const std::string& key) {
  return find_entry(penalty_registry(), name, key, "regularizer");
}

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> schema = make_schema();
  return schema;
}

const ConfigKey* find_config_key(const std::string& name) {
  for (const auto& k : config_schema())
    if (k.name == name) return &k;
  return nullptr;
}

}  // namespace sernn
