#include "app/ensemble.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <unistd.h>

#include <fmt/format.h>

#include "run/setup.h"
#include "core/errors.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "core/signals.h"
#include "models/rate_ensemble.h"

namespace sernn {
namespace {

void check_compatible(const std::vector<Config>& configs) {
  auto strip = [](Config c) {
    auto j = c.to_json();
    j.erase("regularizer");
    j["train"].erase("seed");
    j["train"].erase("inject_nan_batch");
    j["train"].erase("stop_after_batch");
    return j;
  };
  const auto ref = strip(configs[0]);
  for (size_t k = 0; k < configs.size(); ++k) {
    if (configs[k].get_string("model.kind") != "rate")
      throw InputError("ensembles are available for rate models only (model.kind = rate)");
    for (const char* key : {"model.dale", "model.tau_per_neuron", "model.learn_tau"})
      if (configs[k].get_bool(key))
        throw InputError(fmt::format("key '{}': not available in batched ensembles (use --ensemble 1)", key));
    if (configs[k].get_float("model.connectivity") < 1.0 || configs[k].get_float("model.noise") > 0.0)
      throw InputError("keys 'model.connectivity' < 1 and 'model.noise' > 0 are not available in batched ensembles (use --ensemble 1)");
    if (configs[k].get_string("activity.kind") != "none" && configs[k].get_float("activity.gamma") > 0.0)
      throw InputError("key 'activity.kind': activity costs are not available in batched ensembles (use --ensemble 1)");
    if (configs[k].get_float("prune.final_sparsity") > 0.0)
      throw InputError("key 'prune.final_sparsity': pruning is not available in batched ensembles (use --ensemble 1)");
    if (strip(configs[k]) != ref)
      throw InputError(fmt::format("ensemble member {} differs from member 0 in more than regularizer.* and train.seed", k));
  }
}

void write_member_files(const std::string& dir, const RateRNN& net, int64_t epoch) {
  RunDir(dir).write_snapshot(epoch, net->recurrent->weight, *net);
}

void write_status(const std::string& dir, RunStatus status, int64_t epoch, int64_t epochs,
                  const std::string& message = "") {
  RunDir(dir).write_state({status, epoch, epochs, message});
}

}  // namespace

std::vector<nlohmann::json> train_rate_ensemble(const std::vector<Config>& configs, const std::vector<std::string>& dirs,
                                                bool quiet) {
  TORCH_CHECK(!configs.empty() && configs.size() == dirs.size(), "train_rate_ensemble: one directory per config");
  check_compatible(configs);
  const auto& c0 = configs[0];
  check_memory_fits(c0);
  const auto threads = apply_threads(c0);
  const auto device = resolve_device(c0);
  const auto coords = resolve_coords(c0);
  const int64_t K = static_cast<int64_t>(configs.size());
  std::vector<std::shared_ptr<Task>> tasks;
  std::vector<std::shared_ptr<Penalty>> penalties;
  std::vector<RateRNN> members;
  std::vector<double> gammas;
  for (int64_t k = 0; k < K; ++k) {
    tasks.push_back(make_task(configs[k]));
    auto net = std::dynamic_pointer_cast<RateRNNImpl>(make_network(configs[k], tasks[k]->input_size(), tasks[k]->num_classes()));
    members.emplace_back(net);
    penalties.push_back(make_config_penalty(configs[k], coords));
    gammas.push_back(configs[k].get_float("regularizer.gamma"));
    make_dirs(dirs[k]);
    const RunDir run(dirs[k]);
    run.write_config_json(run_config_json(configs[k], threads));
    run.write_coords(coords);
    std::remove(run.file("metrics.jsonl").c_str());
    write_member_files(dirs[k], members[k], 0);
  }
  RateEnsemble ens(members);
  ens->to(device);
  torch::optim::Adam adam(ens->parameters(), torch::optim::AdamOptions(c0.get_float("train.lr")));
  const int64_t epochs = c0.get_int("train.epochs"), bs = c0.get_int("train.batch_size");
  const double clip = c0.get_float("train.grad_clip");
  const int64_t stop_after = c0.get_int("train.stop_after_batch");
  int64_t global_batch = 0;
  std::vector<nlohmann::json> last(K);

  // Batches of split `s` for every member, stacked: inputs [K, T, B, C], labels [K, B].
  auto streams = [&](Split s, int64_t epoch) {
    std::vector<std::unique_ptr<BatchStream>> out;
    for (int64_t k = 0; k < K; ++k)
      out.push_back(tasks[k]->stream(s, epoch, bs, static_cast<uint64_t>(configs[k].get_int("train.seed")), device));
    return out;
  };
  auto next = [&](std::vector<std::unique_ptr<BatchStream>>& ss, torch::Tensor& x, torch::Tensor& y) {
    std::vector<torch::Tensor> xs, ys;
    Batch b;
    for (auto& s : ss) {
      if (!s->next(b)) return false;
      xs.push_back(b.inputs), ys.push_back(b.labels);
    }
    x = torch::stack(xs), y = torch::stack(ys);
    return true;
  };
  auto evaluate = [&](Split s, int64_t epoch) {
    torch::NoGradGuard g;
    auto ss = streams(s, epoch);
    torch::Tensor x, y;
    std::vector<double> loss(K, 0), correct(K, 0);
    int64_t n = 0;
    while (next(ss, x, y)) {
      auto logits = ens->forward(x);
      for (int64_t k = 0; k < K; ++k) {
        loss[k] += torch::nn::functional::cross_entropy(logits[k], y[k]).item<double>() * y.size(1);
        correct[k] += logits[k].argmax(1).eq(y[k]).sum().item<double>();
      }
      n += y.size(1);
    }
    for (int64_t k = 0; k < K; ++k) loss[k] /= std::max<int64_t>(n, 1), correct[k] /= std::max<int64_t>(n, 1);
    return std::make_pair(loss, correct);
  };

  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    for (const auto& d : dirs) write_status(d, RunStatus::Running, epoch - 1, epochs);
    const auto t0 = std::chrono::steady_clock::now();
    auto ss = streams(Split::Train, epoch);
    torch::Tensor x, y;
    std::vector<double> task_sum(K, 0), reg_sum(K, 0), correct(K, 0);
    int64_t samples = 0;
    while (next(ss, x, y)) {
      adam.zero_grad();
      auto logits = ens->forward(x);
      torch::Tensor total = torch::zeros({}, logits.options());
      std::vector<torch::Tensor> task_losses, regs(K);
      for (int64_t k = 0; k < K; ++k) {
        auto l = torch::nn::functional::cross_entropy(logits[k], y[k]);
        task_losses.push_back(l);
        total = total + l;
        if (penalties[k] && gammas[k] > 0) {
          regs[k] = gammas[k] * (*penalties[k])(ens->recurrent_weight[k]);
          total = total + regs[k];
        }
      }
      total.backward();
      if (!std::isfinite(total.item<double>()))
        throw std::runtime_error(fmt::format("ensemble diverged in epoch {}: non-finite loss", epoch));
      if (clip > 0) {
        // Per-network global-norm clipping, as clip_grad_norm_ on each network alone.
        torch::NoGradGuard g;
        std::vector<torch::Tensor> sq;
        for (auto& p : ens->parameters()) sq.push_back(p.grad().reshape({K, -1}).norm(2, 1));
        auto norms = torch::stack(sq, 1).norm(2, 1);  // [K]
        auto coef = (clip / (norms + 1e-6)).clamp_max(1.0);
        for (auto& p : ens->parameters()) {
          std::vector<int64_t> shape(p.dim(), 1);
          shape[0] = K;
          p.mutable_grad().mul_(coef.view(shape));
        }
      }
      adam.step();
      const int64_t b = y.size(1);
      samples += b;
      for (int64_t k = 0; k < K; ++k) {
        task_sum[k] += task_losses[k].item<double>() * b;
        if (regs[k].defined()) reg_sum[k] += regs[k].item<double>() * b;
        correct[k] += logits[k].argmax(1).eq(y[k]).sum().item<double>();
      }
      ++global_batch;
      if (stop_after > 0 && global_batch == stop_after) request_stop(SIGTERM);
      if (stop_requested()) {
        // Within one batch of the signal. The ensemble keeps no checkpoint: a resumed sweep
        // trains these members again from the start (same seeds, same result).
        const auto why = fmt::format("stopped by signal {} in epoch {} after batch {}; the ensemble restarts on resume",
                                     stop_signal(), epoch, global_batch);
        for (const auto& d : dirs) write_status(d, RunStatus::Interrupted, epoch - 1, epochs, why);
        if (!quiet) fmt::print("ensemble of {}: {}\n", K, why);
        throw Interrupted{stop_signal()};
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto [val_loss, val_acc] = evaluate(Split::Validation, epoch);
    const auto [test_loss, test_acc] = evaluate(Split::Test, epoch);
    for (int64_t k = 0; k < K; ++k) {
      nlohmann::json m = {{"epoch", epoch},
                          {"task_loss", task_sum[k] / samples},
                          {"reg_loss", reg_sum[k] / samples},
                          {"train_acc", correct[k] / samples},
                          {"val_loss", val_loss[k]},
                          {"val_acc", val_acc[k]},
                          {"test_loss", test_loss[k]},
                          {"test_acc", test_acc[k]},
                          {"seconds", secs},
                          {"samples_per_s", K * samples / std::max(secs, 1e-9)},
                          {"ensemble_size", K}};
      write_member_files(dirs[k], ens->member(k), epoch);
      RunDir(dirs[k]).append_metrics(m);
      last[k] = m;
    }
    if (!quiet)
      fmt::print("ensemble of {}: epoch {}/{} done ({:.1f}s, {:.0f} samples/s over all members)\n", K, epoch, epochs, secs,
                 K * samples / std::max(secs, 1e-9));
  }
  for (const auto& d : dirs) write_status(d, RunStatus::Finished, epochs, epochs);
  return last;
}

int64_t run_sweep_ensembles(const Config& base, const std::vector<SweepRun>& runs, const std::vector<SweepRun>& all,
                            const SweepOptions& o, int64_t ensemble) {
  make_dirs(o.out_dir);
  atomic_write_text(o.out_dir + "/base_config.json", base.to_json().dump(2) + "\n");
  std::vector<const SweepRun*> pending;
  int64_t done = 0;
  for (const auto& r : runs) {
    if (RunDir(o.out_dir + "/" + r.dir).state().done()) ++done;
    else pending.push_back(&r);
  }
  for (size_t i = 0; i < pending.size(); i += static_cast<size_t>(ensemble)) {
    if (stop_requested()) {
      write_results(o.out_dir, all);
      throw Interrupted{stop_signal()};
    }
    std::vector<Config> configs;
    std::vector<std::string> dirs;
    for (size_t j = i; j < std::min(pending.size(), i + static_cast<size_t>(ensemble)); ++j) {
      configs.push_back(run_config(base, *pending[j], o.threads_per_job * o.jobs));
      dirs.push_back(o.out_dir + "/" + pending[j]->dir);
    }
    try {
      train_rate_ensemble(configs, dirs, o.quiet);
    } catch (const Interrupted&) {
      write_results(o.out_dir, all);
      throw;
    }
    done += static_cast<int64_t>(configs.size());
    write_results(o.out_dir, all);
    if (!o.quiet) fmt::print("ensemble of {} done ({}/{} runs)\n", configs.size(), done, runs.size());
  }
  write_results(o.out_dir, all);
  return done;
}

int64_t auto_ensemble_size(const Config& base, int64_t pending) {
  const auto fit = static_cast<int64_t>(0.5 * physical_memory_bytes() / run_memory_bytes(base));
  return std::max<int64_t>(1, std::min<int64_t>({fit, pending, 256}));
}

}  // namespace sernn
