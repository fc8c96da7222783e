#pragma once
/// What the registry's entry files share: key tables they have in common and the options every
/// model or synthetic task reads from them. Internal to run/.
#include <string>
#include <vector>

#include <torch/script.h>

#include "models/dale.h"
#include "run/config.h"

namespace sernn {

/// A key of the schema (shorthand for the entry tables).
ConfigKey key(std::string name, ConfigKey::Type type, Json default_value, std::string help, double min = -1e300,
              double max = 1e300, std::vector<std::string> choices = {});

/// Dale's law and sparse connectivity (model.dale, exc_fraction, connectivity, spectral_radius).
DaleOptions dale_options(const Config& config);

/// The keys every synthetic task reads (task.noise, task.train_size, task.val_size, task.test_size).
std::vector<ConfigKey> synthetic_task_keys();
/// The windows of the delayed tasks (task.sample_steps, task.delay_steps).
std::vector<ConfigKey> window_keys();

/// Options of a synthetic task with the keys they all share filled in from `config`.
template <class Options>
Options synthetic_options(const Config& config) {
  Options o;
  o.train_size = config.get_int("task.train_size");
  o.val_size = config.get_int("task.val_size");
  o.test_size = config.get_int("task.test_size");
  o.noise = config.get_float("task.noise");
  o.seed = static_cast<uint64_t>(config.get_int("train.seed"));
  return o;
}
/// All samples of the three splits (synthetic tasks hold them in memory).
int64_t synthetic_samples(const Config& config);

/// A submodule of the exported network holding weight [out, in] (and bias) as `Linear` does.
torch::jit::Module linear_module(const torch::Tensor& weight, const torch::Tensor& bias);
/// The exported network's three layers: input, recurrent (the effective weight, signed and
/// masked under Dale's law: the trained network, not its parametrisation) and readout.
torch::jit::Module network_module(const torch::nn::Linear& input, const torch::Tensor& recurrent_weight,
                                  const torch::Tensor& recurrent_bias, const torch::nn::Linear& readout);

}  // namespace sernn
