#include "run/entries.h"

namespace sernn {

ConfigKey key(std::string name, ConfigKey::Type type, Json default_value, std::string help, double min, double max,
              std::vector<std::string> choices) {
  return {std::move(name), type, std::move(default_value), std::move(help), min, max, std::move(choices)};
}

DaleOptions dale_options(const Config& config) {
  DaleOptions dale;
  dale.enabled = config.get_bool("model.dale");
  dale.exc_fraction = config.get_float("model.exc_fraction");
  dale.connectivity = config.get_float("model.connectivity");
  dale.spectral_radius = config.get_float("model.spectral_radius");
  return dale;
}

std::vector<ConfigKey> synthetic_task_keys() {
  using T = ConfigKey::Type;
  return {
      key("task.noise", T::Float, 0.05, "synthetic tasks: input noise sigma (training only)", 0.0, 1e3),
      key("task.train_size", T::Int, 5120, "synthetic tasks: training samples", 1, 1e9),
      key("task.val_size", T::Int, 2560, "synthetic tasks: validation samples", 1, 1e9),
      key("task.test_size", T::Int, 2560, "synthetic tasks: test samples", 1, 1e9),
  };
}

std::vector<ConfigKey> window_keys() {
  using T = ConfigKey::Type;
  return {
      key("task.sample_steps", T::Int, 10, "delayed_match, hierarchical: steps of each stimulus window", 1, 1e5),
      key("task.delay_steps", T::Int, 20, "delayed_match, hierarchical: steps of the delay", 0, 1e6),
  };
}

int64_t synthetic_samples(const Config& config) {
  return config.get_int("task.train_size") + config.get_int("task.val_size") + config.get_int("task.test_size");
}

torch::jit::Module linear_module(const torch::Tensor& weight, const torch::Tensor& bias) {
  torch::jit::Module m("Linear");
  m.register_parameter("weight", weight.detach().clone(), false);
  if (bias.defined()) m.register_parameter("bias", bias.detach().clone(), false);
  return m;
}

torch::jit::Module network_module(const torch::nn::Linear& input, const torch::Tensor& recurrent_weight,
                                  const torch::Tensor& recurrent_bias, const torch::nn::Linear& readout) {
  torch::jit::Module m("SernnNetwork");
  m.register_module("input", linear_module(input->weight, input->bias));
  m.register_module("recurrent", linear_module(recurrent_weight, recurrent_bias));
  m.register_module("readout", linear_module(readout->weight, readout->bias));
  return m;
}

}  // namespace sernn
