#include "app/setup.h"

#include <unistd.h>


#include <fmt/format.h>

#include "analysis/pathways.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "models/rate_rnn.h"
#include "models/spiking_rnn.h"
#include "regularizers/penalties.h"
#include "regularizers/pruning.h"
#include "tasks/delayed_match.h"
#include "tasks/hierarchical.h"
#include "tasks/onechoice.h"
#include "tasks/shd.h"

namespace sernn {

ThreadChoice apply_threads(const Config& config) {
  return configure_threads(config.get_int("train.threads"), config.get_int("train.batch_size"),
                           config.get_int("model.hidden"));
}

torch::Device resolve_device(const Config& config) {
  const std::string name = config.get_string("train.device");
  std::unique_ptr<torch::Device> dev;
  try {
    dev = std::make_unique<torch::Device>(name);
  } catch (const c10::Error&) {
    throw InputError(fmt::format("key 'train.device': unknown device '{}' (use cpu, cuda or cuda:N)", name));
  }
  if (dev->is_cuda() && !torch::cuda::is_available())
    throw InputError(fmt::format("key 'train.device': '{}' requested but this LibTorch has no usable CUDA device", name));
  if (!dev->is_cuda() && !dev->is_cpu())
    throw InputError(fmt::format("key 'train.device': unsupported device '{}' (use cpu or cuda)", name));
  return *dev;
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
    if (grid.size() != 3)
      throw InputError(fmt::format("key 'model.grid': expected 3 dimensions, got {}", grid.size()));
    coords = grid_coordinates(grid);
    from = fmt::format("model.grid = [{}, {}, {}]", grid[0], grid[1], grid[2]);
  }
  if (coords.size(0) != n)
    throw InputError(fmt::format("{} gives {} neurons but model.hidden = {}", from, coords.size(0), n));
  return coords;
}

namespace {

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

DelayedMatchOptions delayed_match_options(const Config& config) {
  auto o = synthetic_options<DelayedMatchOptions>(config);
  o.stimuli = config.get_int("task.stimuli");
  o.sample_steps = config.get_int("task.sample_steps");
  o.delay_steps = config.get_int("task.delay_steps");
  return o;
}

HierarchicalOptions hierarchical_options(const Config& config) {
  auto o = synthetic_options<HierarchicalOptions>(config);
  o.modules = config.get_int("task.modules");
  o.submodules = config.get_int("task.submodules");
  o.xor_modules = config.get_string("task.combine") == "xor";
  o.sample_steps = config.get_int("task.sample_steps");
  o.delay_steps = config.get_int("task.delay_steps");
  return o;
}

}  // namespace

std::shared_ptr<Task> make_task(const Config& config) {
  const std::string kind = config.get_string("task.kind");
  if (kind == "onechoice") {
    auto o = synthetic_options<OneChoiceOptions>(config);
    o.shuffle_labels = config.get_bool("task.shuffle_labels");
    return std::make_shared<OneChoiceTask>(o);
  }
  if (kind == "delayed_match") return std::make_shared<DelayedMatchTask>(delayed_match_options(config));
  if (kind == "hierarchical") return std::make_shared<HierarchicalTask>(hierarchical_options(config));
  if (kind == "shd") {
    ShdTaskOptions o;
    o.data_dir = config.get_string("task.data_dir");
    o.per_sample = config.get_string("task.binning") == "per_sample";
    o.bins = config.get_int("task.bins");
    o.dt = config.get_float("task.dt");
    o.max_steps = config.get_int("task.max_steps");
    o.val_fraction = config.get_float("task.val_fraction");
    o.max_train = config.get_int("task.max_train");
    o.max_test = config.get_int("task.max_test");
    return std::make_shared<ShdTask>(o);
  }
  throw InputError(fmt::format("key 'task.kind': task '{}' is not available in this build", kind));
}

std::pair<int64_t, int64_t> task_shape(const Config& config) {
  const std::string kind = config.get_string("task.kind");
  if (kind == "shd") return {kShdUnits, kShdClasses};
  if (kind == "delayed_match") return {config.get_int("task.stimuli"), 2};
  if (kind == "hierarchical") {
    const auto o = hierarchical_options(config);
    return {o.inputs(), o.classes()};
  }
  return {8, 4};  // onechoice
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

/// The network of model.* (validated against the other keys it depends on), initialised from train.seed.
std::shared_ptr<Network> make_model(const Config& config, int64_t inputs, int64_t classes) {
  torch::manual_seed(static_cast<uint64_t>(config.get_int("train.seed")));
  const std::string kind = config.get_string("model.kind");
  DaleOptions dale;
  dale.enabled = config.get_bool("model.dale");
  dale.exc_fraction = config.get_float("model.exc_fraction");
  dale.connectivity = config.get_float("model.connectivity");
  dale.spectral_radius = config.get_float("model.spectral_radius");
  if (kind == "rate") {
    if (config.get_int("model.rank") > 0)
      throw InputError("key 'model.rank': low-rank connectivity is an option of spiking models (model.kind = spiking)");
    RateRNNOptions o(inputs, config.get_int("model.hidden"), classes);
    o.alpha(config.get_float("model.alpha"))
        .tanh(config.get_string("model.activation") == "tanh")
        .reference(config.get_string("model.impl") == "reference")
        .dale(dale)
        .tau_per_neuron(config.get_bool("model.tau_per_neuron"))
        .learn_tau(config.get_bool("model.learn_tau"))
        .tau_min(config.get_float("model.tau_min"))
        .tau_max(config.get_float("model.tau_max"))
        .noise(config.get_float("model.noise"));
    if (o.tau_min() > o.tau_max())
      throw InputError(fmt::format("keys 'model.tau_min' ({}) and 'model.tau_max' ({}): min exceeds max", o.tau_min(),
                                   o.tau_max()));
    return RateRNN(o).ptr();
  }
  if (kind == "spiking") {
    SpikingRNNOptions o(inputs, config.get_int("model.hidden"), classes);
    o.reset(parse_reset(config.get_string("model.reset")))
        .threshold(config.get_float("model.threshold"))
        .slope(config.get_float("model.slope"))
        .dt_ms(config.get_float("model.dt_ms"))
        .tau_mean_ms(config.get_float("model.tau_mean_ms"))
        .learn_beta(config.get_bool("model.learn_beta"))
        .beta_clip(config.get_bool("model.beta_clip"))
        .beta_min(config.get_float("model.beta_min"))
        .beta_max(config.get_float("model.beta_max"))
        .readout_beta(config.get_float("model.readout_beta"))
        .sum_readout(config.get_string("model.loss") == "sum")
        .reference(config.get_string("model.impl") == "reference")
        .dale(dale)
        .rank(config.get_int("model.rank"))
        .population_latents(config.get_string("model.rank_latents") == "population");
    if (o.population_latents() && (!dale.enabled || o.rank() < 2))
      throw InputError("key 'model.rank_latents': 'population' needs model.dale = true and model.rank >= 2");
    if (o.rank() > o.hidden())
      throw InputError(fmt::format("key 'model.rank': {} exceeds model.hidden = {}", o.rank(), o.hidden()));
    if (o.rank() > 0 && dale.connectivity < 1.0)
      throw InputError("keys 'model.rank' and 'model.connectivity': a sparse mask would destroy the low rank; use one");
    if (o.rank() > 0 && pruning_options(config).enabled())
      throw InputError("keys 'model.rank' and 'prune.final_sparsity': low-rank W has no per-synapse weights to prune");
    if (o.beta_min() > o.beta_max())
      throw InputError(fmt::format("keys 'model.beta_min' ({}) and 'model.beta_max' ({}): min exceeds max",
                                   o.beta_min(), o.beta_max()));
    return SpikingRNN(o).ptr();
  }
  throw InputError(fmt::format("key 'model.kind': model '{}' is not available in this build", kind));
}

}  // namespace

std::shared_ptr<Network> make_network(const Config& config, int64_t inputs, int64_t classes) {
  auto net = make_model(config, inputs, classes);
  if (pruning_options(config).enabled()) register_prune_mask(*net);
  return net;
}

std::shared_ptr<Penalty> make_config_penalty(const Config& config, const torch::Tensor& coords) {
  const bool spiking = config.get_string("model.kind") == "spiking";
  WiringPenaltyOptions o;
  o.distance = distance_matrix(coords).to(torch::kFloat32);
  const std::string grad = config.get_string("regularizer.comm_grad");
  o.comm_grad = grad == "full" ? CommGrad::Full : grad == "detached" ? CommGrad::Detached
                                                  : (spiking ? CommGrad::Detached : CommGrad::Full);
  o.strength = config_strength(config);
  o.comms_factor = config.get_float("regularizer.comms_factor");
  return make_penalty(config.get_string("regularizer.kind"), o, config.get_float("regularizer.resolvent_alpha"));
}

void check_memory_fits(const Config& config) {
  const double n = static_cast<double>(config.get_int("model.hidden"));
  const double inputs = static_cast<double>(task_shape(config).first);
  const double batch = static_cast<double>(config.get_int("train.batch_size"));
  const std::string task = config.get_string("task.kind");
  double steps = 50.0;
  if (task == "shd")
    steps = static_cast<double>(config.get_string("task.binning") == "per_sample" ? config.get_int("task.bins")
                                                                                   : config.get_int("task.max_steps"));
  if (task == "delayed_match") steps = static_cast<double>(delayed_match_options(config).steps());
  if (task == "hierarchical") steps = static_cast<double>(hierarchical_options(config).steps());
  // Parameters with gradient and two Adam moments, the batch input, and about 4 [T, B, N]
  // activations kept for the backward pass.
  const double bytes = 4.0 * (4.0 * (n * n + n * inputs) + steps * batch * inputs + 4.0 * steps * batch * n);
  double data = 0;
  if (task != "shd")  // the synthetic tasks hold their three splits in memory
    data = 4.0 * steps * inputs *
           static_cast<double>(config.get_int("task.train_size") + config.get_int("task.val_size") + config.get_int("task.test_size"));
  const double total = bytes + data;
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (ram > 0 && total > 0.8 * ram)
    throw InputError(fmt::format(
        "model.hidden = {}, train.batch_size = {} and the task sizes need about {:.1f} GiB, more than this machine's "
        "{:.1f} GiB of memory allows",
        config.get_int("model.hidden"), config.get_int("train.batch_size"), total / (1ull << 30), ram / (1ull << 30)));
}

Strength config_strength(const Config& config) {
  const auto s = config.get_string("regularizer.strength");
  if (s == "in") return Strength::In;
  if (s == "out") return Strength::Out;
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
  auto penalty = make_config_penalty(config, coords);
  // Checked before anything in out_dir changes: bad input leaves a run as it was.
  std::function<torch::Tensor(const torch::Tensor&)> activity;
  if (config.get_string("activity.kind") != "none" && config.get_float("activity.gamma") > 0) {
    const auto kind = config.get_string("activity.kind");
    const double g = config.get_float("activity.gamma"), lo = config.get_float("activity.low"),
                 hi = config.get_float("activity.high");
    if (lo > hi)
      throw InputError(fmt::format("keys 'activity.low' ({}) and 'activity.high' ({}): low exceeds high", lo, hi));
    activity = [kind, g, lo, hi](const torch::Tensor& a) { return g * activity_cost(a, kind, lo, hi); };
  }

  make_dirs(out_dir);
  if (!collective || collective->rank() == 0) {
    // Results derived from a replaced run would describe the old network.
    if (!resume)
      for (const char* derived : {"analysis.json", "report.html", "final_analysis.json"})
        std::remove((out_dir + "/" + derived).c_str());
    atomic_write_text(out_dir + "/config.json", run_config_json(config, threads).dump(2) + "\n");
    atomic_write_text(out_dir + "/coords.csv", matrix_to_csv(coords));
  }

  TrainerOptions t;
  t.out_dir = out_dir;
  t.epochs = config.get_int("train.epochs");
  t.batch_size = config.get_int("train.batch_size");
  t.lr = config.get_float("train.lr");
  t.seed = static_cast<uint64_t>(config.get_int("train.seed"));
  t.gamma = config.get_float("regularizer.gamma");
  t.grad_clip = config.get_float("train.grad_clip");
  t.activity_cost = activity;
  std::shared_ptr<MagnitudePruner> pruner;
  if (const auto p = pruning_options(config); p.enabled()) {
    pruner = std::make_shared<MagnitudePruner>(*net, p, t.epochs);
    t.after_step = [pruner] { pruner->apply(); };
    t.epoch_end = [pruner](int64_t epoch) { return pruner->epoch_end(epoch); };
  }
  t.checkpoint_minutes = config.get_float("checkpoint.every_minutes");
  t.inject_nan_batch = config.get_int("train.inject_nan_batch");
  t.stop_after_batch = config.get_int("train.stop_after_batch");
  t.log_every = config.get_int("train.log_every");
  t.quiet = quiet || (collective && collective->rank() != 0);
  t.collective = collective;
  t.device = device;
  Trainer trainer(net, task, penalty, t);
  return trainer.fit(resume);
}

}  // namespace sernn

namespace sernn {

Config read_run_config(const std::string& run_dir) {
  const std::string path = run_dir + "/config.json";
  if (!file_exists(path)) throw InputError(fmt::format("{}: not a run directory (config.json missing)", run_dir));
  return Config::from_json(read_json(path), path);
}

LoadedRun load_run(const std::string& run_dir, int64_t epoch) {
  LoadedRun run;
  const std::string config_path = run_dir + "/config.json";
  run.config = read_run_config(run_dir);
  run.coords = read_coords_csv(run_dir + "/coords.csv");
  std::tie(run.inputs, run.classes) = task_shape(run.config);
  run.network = make_network(run.config, run.inputs, run.classes);
  if (epoch < 0) {
    for (int64_t e = 0; file_exists(run_model_path(run_dir, e)); ++e) epoch = e;
    if (epoch < 0) throw InputError(fmt::format("{}/models: no saved models", run_dir));
  }
  const std::string model_path = run_model_path(run_dir, epoch);
  if (!file_exists(model_path)) throw InputError(fmt::format("{}: no model for epoch {}", model_path, epoch));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(model_path);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    throw InputError(fmt::format("{}: not a model file ({})", model_path, what.substr(0, what.find('\n'))));
  }
  load_module_strict(*run.network, archive, model_path);
  run.network->train(false);
  run.epoch = epoch;
  return run;
}

std::string run_model_path(const std::string& run_dir, int64_t epoch) {
  return snapshot_model_path(run_dir, epoch);
}

nlohmann::json run_pathways(const LoadedRun& run, int64_t max_hops) {
  torch::NoGradGuard no_grad;
  auto params = run.network->named_parameters();
  if (!params.contains("input.weight") || !params.contains("readout.weight")) return nullptr;
  torch::Tensor groups;
  if (run.config.get_string("task.kind") == "hierarchical")
    groups = hierarchical_channel_modules(run.config.get_int("task.modules"), run.config.get_int("task.submodules"));
  const auto w = run.network->recurrent_weight();
  // A model with non-finite weights (a diverged run's last snapshot) has no pathways to decompose.
  if (!torch::isfinite(w).all().item<bool>() || !torch::isfinite(params["input.weight"]).all().item<bool>() ||
      !torch::isfinite(params["readout.weight"]).all().item<bool>())
    return nullptr;
  return pathway_hops(params["input.weight"], w, params["readout.weight"], max_hops, groups);
}

nlohmann::json run_pathways(const std::string& run_dir, int64_t epoch, int64_t max_hops) {
  if (!file_exists(run_model_path(run_dir, epoch))) return nullptr;
  return run_pathways(load_run(run_dir, epoch), max_hops);
}

}  // namespace sernn
