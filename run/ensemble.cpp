#include "run/ensemble.h"

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#ifdef SERNN_HAS_CUDA
#include <cuda_runtime_api.h>
#endif

#include "core/errors.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "core/trainer.h"
#include "models/rate_ensemble.h"
#include "models/spiking_ensemble.h"
#include "models/spiking_stack.h"
#include "run/setup.h"

namespace sernn {
namespace {

/// What a batched rate ensemble does not implement (refused rather than trained without it).
void check_rate_member(const Config& c) {
  for (const char* key : {"model.dale", "model.tau_per_neuron", "model.learn_tau"})
    if (c.get_bool(key))
      throw InputError(fmt::format("key '{}': not available in batched rate ensembles (use --ensemble 1)", key));
  if (c.get_float("model.connectivity") < 1.0 || c.get_float("model.noise") > 0.0)
    throw InputError(
        "keys 'model.connectivity' < 1 and 'model.noise' > 0 are not available in batched rate ensembles (use "
        "--ensemble 1)");
  if (c.get_string("activity.kind") != "none" && c.get_float("activity.gamma") > 0.0)
    throw InputError(
        "key 'activity.kind': activity costs are not available in batched rate ensembles (use --ensemble 1)");
}

/// The config as JSON without what members may differ in and what no task reads (the penalty and
/// the per-member test hooks); with `data_too`, also without what picks a member's data (its seed
/// and the random-label control's shuffle_labels).
nlohmann::json member_invariant_json(const Config& c, bool data_too) {
  auto j = c.to_json();
  j.erase("regularizer");
  j["train"].erase("inject_nan_batch");
  j["train"].erase("stop_after_batch");
  if (data_too) {
    j["train"].erase("seed");
    // Each member has its own task: the random-label control may sit beside the others.
    if (j.contains("task")) j["task"].erase("shuffle_labels");
  }
  return j;
}

void check_compatible(const std::vector<Config>& configs) {
  auto strip = [](const Config& c) { return member_invariant_json(c, /*data_too=*/true); };
  const auto ref = strip(configs[0]);
  for (size_t k = 0; k < configs.size(); ++k) {
    if (configs[k].get_string("model.kind") == "rate") check_rate_member(configs[k]);
    if (configs[k].get_float("prune.final_sparsity") > 0.0)
      throw InputError("key 'prune.final_sparsity': pruning is not available in ensembles (use --ensemble 1)");
    if (strip(configs[k]) != ref)
      throw InputError(fmt::format(
          "ensemble member {} differs from member 0 in more than regularizer.*, train.seed and task.shuffle_labels",
          k));
  }
}

/// One model holding the members' networks.
std::shared_ptr<Network> ensemble_model(const Config& c0, const std::vector<std::shared_ptr<Network>>& nets) {
  if (c0.get_string("model.kind") == "rate") {
    std::vector<RateRNN> members;
    for (const auto& n : nets) members.emplace_back(std::dynamic_pointer_cast<RateRNNImpl>(n));
    return RateEnsemble(members).ptr();
  }
  std::vector<SpikingRNN> members;
  for (const auto& n : nets) members.emplace_back(std::dynamic_pointer_cast<SpikingRNNImpl>(n));
  // Fast-path members as stacked parameters (one optimiser step for all; Dale's law and sparse
  // masks as stacked buffers); others (low rank, the reference path) each with their own.
  if (SpikingStackImpl::can_stack(members)) return SpikingStack(members).ptr();
  return SpikingEnsemble(members).ptr();
}

}  // namespace

std::vector<nlohmann::json> train_ensemble(const std::vector<Config>& configs, const std::vector<std::string>& dirs,
                                           const std::string& ensemble_dir, bool resume, bool quiet) {
  TORCH_CHECK(!configs.empty() && configs.size() == dirs.size(), "train_ensemble: one directory per config");
  // One member (e.g. the last group of a sweep whose size K does not divide): an ordinary run,
  // with its checkpoint in its own directory. (A batched model of one would store [1, N, N]
  // weights that no single-network reader takes.)
  if (configs.size() == 1)
    return {train_run(configs[0], dirs[0], resume || file_exists(RunDir(dirs[0]).file("checkpoint.pt")), quiet)};
  check_compatible(configs);
  const auto& c0 = configs[0];
  const auto K = static_cast<int64_t>(configs.size());
  const auto device = resolve_device(c0);
  // The memory of the run's device: its free memory on a GPU, the machine's on the CPU.
  const double memory = device.is_cuda() ? available_memory_bytes(device.str()) : physical_memory_bytes();
  if (static_cast<double>(K) * run_memory_bytes(c0) > 0.8 * memory)
    throw InputError(
        fmt::format("an ensemble of {} runs of this size needs about {:.1f} GiB of {} memory ({:.1f} GiB); "
                    "use a smaller --ensemble",
                    K, K * run_memory_bytes(c0) / (1ull << 30), device.str(), memory / (1ull << 30)));
  const auto threads = apply_threads(c0);
  const auto coords = resolve_coords(c0);
  TrainerOptions t = trainer_options(c0, quiet);
  std::vector<std::shared_ptr<const Task>> tasks;
  std::vector<std::shared_ptr<Network>> nets;
  // Members whose configs differ only in what a task never reads share one task object, so the
  // Trainer builds their batches once (issue 16: a sweep over gamma at one seed reads the same
  // data K times otherwise).
  std::map<nlohmann::json, std::shared_ptr<const Task>> task_of;
  // Members whose regularizer.* differ only in gamma share one penalty: the Trainer computes
  // their penalty terms in one call on the stacked weights (core/loss.h MembersLoss).
  std::map<nlohmann::json, std::shared_ptr<const Penalty>> penalty_of;
  for (int64_t k = 0; k < K; ++k) {
    auto& task = task_of[member_invariant_json(configs[k], /*data_too=*/false)];
    if (!task) task = make_task(configs[k]);
    auto regularizer = configs[k].to_json()["regularizer"];
    if (regularizer.is_object()) regularizer.erase("gamma");
    auto& penalty = penalty_of[regularizer];
    if (!penalty) penalty = make_config_penalty(configs[k], coords);
    nets.push_back(make_network(configs[k], task->input_size(), task->num_classes()));
    tasks.push_back(task);
    t.member_loss.push_back(config_loss(configs[k], penalty));
    t.member_seeds.push_back(static_cast<uint64_t>(configs[k].get_int("train.seed")));
    t.member_inject_nan_batch.push_back(configs[k].get_int("train.inject_nan_batch"));
    t.member_dirs.push_back(dirs[k]);
    const RunDir run(dirs[k]);
    make_dirs(dirs[k]);
    if (!resume) run.clear_derived();
    run.write_config_json(run_config_json(configs[k], threads));
    run.write_coords(coords);
  }
  t.out_dir = ensemble_dir;
  t.inject_nan_batch = 0;  // per member (member_inject_nan_batch)
  t.device = device;
  make_dirs(ensemble_dir);
  Trainer trainer(ensemble_model(c0, nets), tasks, t);
  const auto last = trainer.fit(resume);
  return last.get<std::vector<nlohmann::json>>();
}

double available_memory_bytes(const std::string& device) {
#ifdef SERNN_HAS_CUDA
  if (device.rfind("cuda", 0) == 0) {
    // The run's device (cuda:N), not whichever is current: cudaMemGetInfo asks the current one.
    const int index = torch::Device(device).has_index() ? torch::Device(device).index() : 0;
    int current = 0;
    size_t free = 0, total = 0;
    if (cudaGetDevice(&current) == cudaSuccess && cudaSetDevice(index) == cudaSuccess) {
      const bool ok = cudaMemGetInfo(&free, &total) == cudaSuccess;
      cudaSetDevice(current);
      if (ok) return static_cast<double>(free);
    }
  }
#else
  (void)device;
#endif
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024.0;
  return physical_memory_bytes();
}

int64_t auto_ensemble_size(const Config& base, int64_t pending) {
  const double available = available_memory_bytes(resolve_device(base).str());
  const auto fit = static_cast<int64_t>(0.5 * available / run_memory_bytes(base));
  return std::max<int64_t>(1, std::min<int64_t>({fit, pending, 1024}));
}

}  // namespace sernn
