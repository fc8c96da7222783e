#include "run/export.h"

#include <filesystem>

#include <fmt/format.h>

#include "run/setup.h"
#include "core/errors.h"
#include "core/io.h"
#include "run/registry.h"

namespace sernn {
torch::jit::Module script_network(Network& net, const Config& config, const torch::Tensor& coords) {
  auto m = find_model(config.get_string("model.kind")).script(net);
  m.register_attribute("config_json", c10::StringType::get(), config.to_json().dump());
  m.register_attribute("coords", c10::TensorType::get(), coords.to(torch::kFloat64).clone());
  return m;
}

double export_run(const std::string& run_dir, const std::string& out_path, int64_t epoch) {
  const auto run = load_run(run_dir, epoch);
  auto module = script_network(*run.network, run.config, run.coords);
  atomic_write_with(out_path, [&](const std::string& tmp) { module.save(tmp); });

  // Verify: load the file back and compare with the engine's forward on a random batch.
  auto loaded = torch::jit::load(out_path);
  torch::NoGradGuard no_grad;
  run.network->train(false);
  torch::manual_seed(1234);
  const auto& model = find_model(run.config.get_string("model.kind"));
  auto x = model.example_input(50, 4, run.inputs);
  auto out = loaded.forward({x}).toTuple();
  const auto [a0, a1] = model.outputs(*run.network, x);
  const auto b0 = out->elements()[0].toTensor(), b1 = out->elements()[1].toTensor();
  if (a0.sizes() != b0.sizes() || a1.sizes() != b1.sizes())
    throw std::runtime_error(
        fmt::format("export verification failed: output shapes {} / {} differ from the engine's {} / {}",
                    c10::str(b0.sizes()), c10::str(b1.sizes()), c10::str(a0.sizes()), c10::str(a1.sizes())));
  const double diff = std::max((a0 - b0).abs().max().item<double>(), (a1 - b1).abs().max().item<double>());
  // float32 sums in another order: relative to the output's scale (a flipped spike is 1 apart).
  const double scale = std::max(1.0, std::max(a0.abs().max().item<double>(), a1.abs().max().item<double>()));
  if (!(diff <= 1e-4 * scale)) {
    std::filesystem::remove(out_path);
    throw std::runtime_error(
        fmt::format("export verification failed: max |difference| {} (outputs up to {}) between the "
                    "saved module and the engine's forward; {} was removed",
                    diff, scale, out_path));
  }
  return diff;
}

}  // namespace sernn
