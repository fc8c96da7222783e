#include "run/setup.h"

#include <unistd.h>

#include <fmt/format.h>

#include "core/archive.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "core/loss.h"
#include "core/run_dir.h"
#include "regularizers/penalties.h"
#include "regularizers/pruning.h"
#include "run/registry.h"

namespace sernn {

ThreadChoice apply_threads(const Config& config) {
  return configure_threads(config.get_int("train.threads"), config.get_int("train.batch_size"),
                           config.get_int("model.hidden"));
}

torch::Device parse_device(const std::string& name, const std::string& origin) {
  std::unique_ptr<torch::Device> dev;
  try {
    dev = std::make_unique<torch::Device>(name);
  } catch (const c10::Error&) {
    throw InputError(fmt::format("{}: unknown device '{}' (use cpu, cuda or cuda:N)", origin, name));
  }
  if (dev->is_cuda() && !torch::cuda::is_available())
    throw InputError(fmt::format("{}: '{}' requested but this LibTorch has no usable CUDA device", origin, name));
  // cuda:N beyond the devices present would fail deep inside the first copy (issue 25).
  if (dev->is_cuda() && dev->has_index() && dev->index() >= static_cast<int64_t>(torch::cuda::device_count()))
    throw InputError(fmt::format("{}: '{}' requested but this machine has {} CUDA device(s) (cuda:0 to cuda:{})",
                                 origin, name, torch::cuda::device_count(), torch::cuda::device_count() - 1));
  if (!dev->is_cuda() && !dev->is_cpu())
    throw InputError(fmt::format("{}: unsupported device '{}' (use cpu or cuda)", origin, name));
  return *dev;
}

torch::Device resolve_device(const Config& config) {
  return parse_device(config.get_string("train.device"), "key 'train.device'");
}

torch::Tensor resolve_coords(const Config& config) {
  const int64_t n = config.get_int("model.hidden");
  const std::string path = config.get_string("model.coords");
  torch::Tensor coords;
  std::string from;
  if (!path.empty()) {
    coords = read_coords_csv(path);
    from = fmt::format("model.coords = {}", path);
  } else {
    const auto grid = config.get_int_list("model.grid");
    if (grid.size() != 3) throw InputError(fmt::format("key 'model.grid': expected 3 dimensions, got {}", grid.size()));
    coords = grid_coordinates(grid);
    from = fmt::format("model.grid = [{}, {}, {}]", grid[0], grid[1], grid[2]);
  }
  if (coords.size(0) != n)
    throw InputError(fmt::format("{} gives {} neurons but model.hidden = {}", from, coords.size(0), n));
  return coords;
}

std::shared_ptr<Task> make_task(const Config& config) { return find_task(config.get_string("task.kind")).make(config); }

std::pair<int64_t, int64_t> task_shape(const Config& config) {
  const auto shape = find_task(config.get_string("task.kind")).shape(config);
  return {shape.inputs, shape.classes};
}

namespace {

PruningOptions pruning_options(const Config& config) {
  PruningOptions p;
  p.final_sparsity = config.get_float("prune.final_sparsity");
  p.start_epoch = config.get_int("prune.start_epoch");
  p.end_epoch = config.get_int("prune.end_epoch");
  p.schedule = config.get_string("prune.schedule");
  if (p.enabled() && p.end_epoch > 0 && p.end_epoch < p.start_epoch)
    throw InputError(fmt::format("keys 'prune.start_epoch' ({}) and 'prune.end_epoch' ({}): end before start",
                                 p.start_epoch, p.end_epoch));
  return p;
}

}  // namespace

std::shared_ptr<Network> make_network(const Config& config, int64_t inputs, int64_t classes) {
  torch::manual_seed(static_cast<uint64_t>(config.get_int("train.seed")));
  auto net = find_model(config.get_string("model.kind")).make(config, inputs, classes);
  if (pruning_options(config).enabled()) register_prune_mask(*net);
  return net;
}

std::shared_ptr<Penalty> make_config_penalty(const Config& config, const torch::Tensor& coords) {
  return find_penalty(config.get_string("regularizer.kind")).make(config, coords);
}

double run_memory_bytes(const Config& config) {
  const auto shape = find_task(config.get_string("task.kind")).shape(config);
  const double n = static_cast<double>(config.get_int("model.hidden"));
  const double inputs = static_cast<double>(shape.inputs), steps = static_cast<double>(shape.steps);
  const double batch = static_cast<double>(config.get_int("train.batch_size"));
  // Parameters with gradient and two Adam moments, the batch input, about 4 [T, B, N]
  // activations kept for the backward pass, and the samples a task holds in memory.
  return 4.0 * (4.0 * (n * n + n * inputs) + steps * batch * inputs + 4.0 * steps * batch * n) +
         4.0 * steps * inputs * static_cast<double>(shape.samples_in_memory);
}

double physical_memory_bytes() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
}

void check_memory_fits(const Config& config) {
  const double total = run_memory_bytes(config), ram = physical_memory_bytes();
  if (ram > 0 && total > 0.8 * ram)
    throw InputError(fmt::format(
        "model.hidden = {}, train.batch_size = {} and the task sizes need about {:.1f} GiB, more than this machine's "
        "{:.1f} GiB of memory allows",
        config.get_int("model.hidden"), config.get_int("train.batch_size"), total / (1ull << 30), ram / (1ull << 30)));
}

Strength config_strength(const Config& config) {
  const auto s = config.get_string("regularizer.strength");
  if (s != "auto") return parse_strength(s);
  return config.get_string("model.kind") == "spiking" ? Strength::In : Strength::Out;
}

nlohmann::json run_config_json(const Config& config, const ThreadChoice& threads) {
  auto j = config.to_json();
  // With train.threads given, config.json is the config as it was (that count is the record).
  if (config.get_int("train.threads") > 0) return j;
  j["runtime"] = {{"threads", threads.threads},
                  {"intra_op_threads", threads.intra_op},
                  {"threads_reason", threads.reason},
                  {"cores_available", threads.cores}};
  return j;
}

std::vector<LossTerm> config_loss(const Config& config, std::shared_ptr<const Penalty> penalty) {
  std::vector<LossTerm> terms{task_loss_term(),
                              penalty_term(std::move(penalty), config.get_float("regularizer.gamma"))};
  if (config.get_string("activity.kind") != "none" && config.get_float("activity.gamma") > 0) {
    const auto kind = config.get_string("activity.kind");
    const double lo = config.get_float("activity.low"), hi = config.get_float("activity.high");
    if (lo > hi)
      throw InputError(fmt::format("keys 'activity.low' ({}) and 'activity.high' ({}): low exceeds high", lo, hi));
    terms.push_back(activity_term([kind, lo, hi](const torch::Tensor& a) { return activity_cost(a, kind, lo, hi); },
                                  config.get_float("activity.gamma"), fmt::format("{}:{}:{}", kind, lo, hi)));
  }
  return terms;
}

TrainerOptions trainer_options(const Config& config, bool quiet) {
  TrainerOptions t;
  t.epochs = config.get_int("train.epochs");
  t.batch_size = config.get_int("train.batch_size");
  t.lr = config.get_float("train.lr");
  t.seed = static_cast<uint64_t>(config.get_int("train.seed"));
  t.grad_clip = config.get_float("train.grad_clip");
  t.checkpoint_minutes = config.get_float("checkpoint.every_minutes");
  t.inject_nan_batch = config.get_int("train.inject_nan_batch");
  t.stop_after_batch = config.get_int("train.stop_after_batch");
  t.log_every = config.get_int("train.log_every");
  t.quiet = quiet;
  return t;
}

nlohmann::json train_run(const Config& config, const std::string& out_dir, bool resume, bool quiet,
                         std::shared_ptr<Collective> collective) {
  check_memory_fits(config);
  const auto threads = apply_threads(config);
  if (!quiet) fmt::print("threads: {} ({})\n", threads.threads, threads.reason);
  const auto device = resolve_device(config);
  if (config.get_bool("train.deterministic")) at::globalContext().setDeterministicAlgorithms(true, false);
  const auto coords = resolve_coords(config);
  auto task = make_task(config);
  auto net = make_network(config, task->input_size(), task->num_classes());
  TrainerOptions t = trainer_options(config, quiet);
  // The loss, term by term, each with its strength. Checked before anything in out_dir changes:
  // bad input leaves a run as it was.
  t.loss = config_loss(config, make_config_penalty(config, coords));

  const RunDir dir(out_dir);
  make_dirs(out_dir);
  if (!collective || collective->rank() == 0) {
    // Results derived from a replaced run would describe the old network.
    if (!resume) dir.clear_derived();
    dir.write_config_json(run_config_json(config, threads));
    dir.write_coords(coords);
  }

  t.out_dir = out_dir;
  std::shared_ptr<MagnitudePruner> pruner;
  if (const auto p = pruning_options(config); p.enabled()) {
    pruner = std::make_shared<MagnitudePruner>(*net, p, t.epochs);
    t.after_step = [pruner] { pruner->apply(); };
    t.epoch_end = [pruner](int64_t epoch) { return pruner->epoch_end(epoch); };
  }
  t.quiet = quiet || (collective && collective->rank() != 0);
  t.collective = collective;
  t.device = device;
  Trainer trainer(net, task, t);
  return trainer.fit(resume);
}

}  // namespace sernn

namespace sernn {

Config read_run_config(const std::string& run_dir) {
  const RunDir dir(run_dir);
  return Config::from_json(dir.read_config_json(), dir.file("config.json"));
}

LoadedRun load_run(const std::string& run_dir, int64_t epoch) {
  const RunDir dir(run_dir);
  LoadedRun run;
  run.config = read_run_config(run_dir);
  run.coords = dir.read_coords();
  std::tie(run.inputs, run.classes) = task_shape(run.config);
  run.network = make_network(run.config, run.inputs, run.classes);
  const int64_t n = run.network->recurrent_weight().size(-1);
  if (run.coords.size(0) != n)
    throw InputError(
        fmt::format("{}: {} neurons, but config.json's network has {}", dir.file("coords.csv"), run.coords.size(0), n));
  if (epoch < 0) {
    epoch = dir.last_model_epoch();
    if (epoch < 0) throw InputError(fmt::format("{}/models: no saved models", run_dir));
  }
  const std::string model_path = dir.model_path(epoch);
  if (!file_exists(model_path)) throw InputError(fmt::format("{}: no model for epoch {}", model_path, epoch));
  // Onto the CPU whatever device trained it: analysis and export run there (a CUDA-trained
  // model would otherwise keep its weights on the GPU and export a module the CPU cannot run).
  auto archive = read_archive(model_path, torch::Device(torch::kCPU), "a model file");
  load_module_strict(*run.network, archive, model_path);
  run.network->train(false);
  run.epoch = epoch;
  return run;
}

}  // namespace sernn
