#include "app/sweep.h"

#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "analysis/analyze.h"
#include "app/ensemble.h"
#include "app/setup.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "core/signals.h"

namespace sernn {
namespace {

double parse_number(const std::string& s, const std::string& text, const std::string& option, bool allow_negative) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v) || (v < 0 && !allow_negative)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw InputError(fmt::format("{}: '{}' in '{}' is not a finite{} number", option, s, text,
                                 allow_negative ? "" : " non-negative"));
  }
}

nlohmann::json read_json_or_null(const std::string& path) {
  if (!file_exists(path)) return nullptr;
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

std::string run_status(const std::string& dir) {
  const auto s = read_json_or_null(dir + "/status.json");
  return s.is_object() && s.contains("status") ? s["status"].get<std::string>() : "pending";
}

/// The last line of metrics.jsonl that parses (null if none).
nlohmann::json last_metrics(const std::string& dir) {
  const auto rows = read_jsonl(dir + "/metrics.jsonl");
  return rows.empty() ? nlohmann::json() : rows.back();
}

/// Analysis of a run's last snapshot, cached in the run directory.
nlohmann::json final_analysis(const std::string& dir, int64_t epoch) {
  const auto cache = dir + "/final_analysis.json";
  auto j = read_json_or_null(cache);
  if (j.is_object() && j.value("epoch", int64_t{-1}) == epoch && j.contains("pathways")) return j;
  const auto w = read_matrix_csv(snapshot_weights_path(dir, epoch));
  torch::Tensor coords;
  if (file_exists(dir + "/coords.csv")) coords = read_coords_csv(dir + "/coords.csv");
  AnalysisOptions o;
  // The run's own convention (regularizer.strength honoured), as `sernn analyze` uses it.
  o.strength = file_exists(dir + "/config.json") ? config_strength(read_run_config(dir)) : Strength::Out;
  j = analyze_matrix(w, coords, o);
  j["pathways"] = run_pathways(dir, epoch);
  j["epoch"] = epoch;
  atomic_write_text(cache, j.dump() + "\n");
  return j;
}

std::string csv_number(const nlohmann::json& v) {
  return v.is_number() ? fmt::format("{:.10g}", v.get<double>()) : std::string();
}

std::string format_gamma(double g) { return fmt::format("{:.6g}", g); }

}  // namespace

std::vector<double> parse_gammas(const std::string& text) { return parse_values(text, "--gammas", false); }

std::vector<double> parse_values(const std::string& text, const std::string& option, bool allow_negative) {
  std::vector<double> out;
  const auto colon = text.find(':');
  const auto number = [&](const std::string& s) { return parse_number(s, text, option, allow_negative); };
  if (colon != std::string::npos) {
    const auto second = text.find(':', colon + 1);
    if (second == std::string::npos) throw InputError(fmt::format("{}: expected START:STOP:COUNT, got '{}'", option, text));
    const double a = number(text.substr(0, colon)), b = number(text.substr(colon + 1, second - colon - 1));
    const double n = number(text.substr(second + 1));
    if (n < 1 || std::floor(n) != n || n > 1e6)
      throw InputError(fmt::format("{}: COUNT in '{}' must be a whole number >= 1", option, text));
    const auto count = static_cast<int64_t>(n);
    for (int64_t i = 0; i < count; ++i) out.push_back(count == 1 ? a : a + (b - a) * static_cast<double>(i) / (count - 1));
    return out;
  }
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(number(item));
  if (out.empty()) throw InputError(option + ": empty list");
  return out;
}

std::vector<SweepRun> expand(const SweepPlan& plan) {
  std::vector<SweepRun> runs;
  const bool gamma_sweep = plan.param == "regularizer.gamma";
  // γ sweeps keep their historical directory names (runs/GROUP/gamma_G/seed_S).
  const std::string label = gamma_sweep ? "gamma" : plan.param;
  for (const auto& g : plan.groups)
    for (double v : plan.values)
      for (int64_t s = 0; s < plan.seeds; ++s) {
        const int64_t seed = plan.first_seed + s;
        runs.push_back({g, gamma_sweep ? v : plan.base_gamma, seed,
                        fmt::format("runs/{}/{}_{}/seed_{}", g, label, format_gamma(v), seed), plan.param, v});
      }
  return runs;
}

std::vector<SweepRun> shard(const std::vector<SweepRun>& runs, int64_t index, int64_t count) {
  std::vector<SweepRun> out;
  for (size_t i = 0; i < runs.size(); ++i)
    if (static_cast<int64_t>(i) % count == index) out.push_back(runs[i]);
  return out;
}

void write_results(const std::string& out_dir, const std::vector<SweepRun>& runs) {
  const bool extra = !runs.empty() && runs.front().param != "regularizer.gamma";
  std::string csv =
      "group,gamma,seed,status,epochs,train_acc,val_acc,test_acc,task_loss,q,entropy_weights,entropy_communicability,"
      "entropy_spectral,lambda_max,total_weight,run_dir,mean_hops";
  csv += extra ? ",param,value\n" : "\n";
  for (const auto& r : runs) {
    const auto dir = out_dir + "/" + r.dir;
    const auto status = run_status(dir);
    const auto m = last_metrics(dir);
    nlohmann::json a;
    if ((status == "finished" || status == "diverged") && m.is_object() && m.contains("epoch"))
      a = final_analysis(dir, m["epoch"].get<int64_t>());
    auto get = [](const nlohmann::json& j, const char* k1, const char* k2 = nullptr) -> nlohmann::json {
      if (!j.is_object() || !j.contains(k1)) return nullptr;
      if (!k2) return j[k1];
      return j[k1].is_object() && j[k1].contains(k2) ? j[k1][k2] : nlohmann::json();
    };
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", r.group, format_gamma(r.gamma), r.seed, status,
                       m.is_object() && m.contains("epoch") ? std::to_string(m["epoch"].get<int64_t>()) : "",
                       csv_number(get(m, "train_acc")), csv_number(get(m, "val_acc")), csv_number(get(m, "test_acc")),
                       csv_number(get(m, "task_loss")), csv_number(get(a, "modularity", "q")),
                       csv_number(get(a, "entropy", "weights")), csv_number(get(a, "entropy", "communicability")),
                       csv_number(get(a, "entropy", "spectral")), csv_number(get(a, "spectrum", "lambda_max")),
                       csv_number(get(a, "total_weight")), r.dir);
    csv += "," + csv_number(get(a, "pathways", "mean_hops"));
    csv += extra ? fmt::format(",{},{:.10g}\n", r.param, r.value) : "\n";
  }
  atomic_write_text(out_dir + "/results.csv", csv);
}

int64_t run_sweep(const Config& base, const std::vector<SweepRun>& runs, const std::vector<SweepRun>& all,
                  const SweepOptions& o) {
  make_dirs(o.out_dir);
  const auto base_path = o.out_dir + "/base_config.json";
  atomic_write_text(base_path, base.to_json().dump(2) + "\n");
  std::map<pid_t, const SweepRun*> children;
  size_t next = 0;
  int64_t done = 0;
  auto launch = [&](const SweepRun& r) -> bool {
    const auto dir = o.out_dir + "/" + r.dir;
    const auto status = run_status(dir);
    if (status == "finished" || status == "diverged") {
      ++done;
      return false;
    }
    std::vector<std::string> args{o.self, "train"};
    if (file_exists(dir + "/checkpoint.pt") && file_exists(dir + "/config.json")) {
      args.insert(args.end(), {"--resume", dir});
    } else {
      make_dirs(dir);
      args.insert(args.end(), {"--config", base_path, "--out", dir, "--force", "--set", "regularizer.kind=" + r.group, "--set",
                               "regularizer.gamma=" + fmt::format("{:.17g}", r.gamma), "--seed", std::to_string(r.seed)});
      if (r.param != "regularizer.gamma") args.insert(args.end(), {"--set", r.param + "=" + fmt::format("{:.17g}", r.value)});
    }
    args.insert(args.end(), {"--threads", std::to_string(o.threads_per_job), "--quiet"});
    const auto log = dir + "/train.log";
    make_dirs(dir);
    const pid_t pid = fork();
    if (pid == 0) {
      // Own process group: a terminal's Ctrl-C reaches only the sweep, which passes on one SIGTERM.
      setpgid(0, 0);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(o.self.c_str(), argv.data());
      _exit(127);
    }
    if (pid < 0) throw std::runtime_error("sweep: fork failed");
    children[pid] = &r;
    if (!o.quiet) fmt::print("started {} (gamma {}, seed {})\n", r.dir, format_gamma(r.gamma), r.seed);
    return true;
  };

  while (next < runs.size() || !children.empty()) {
    while (!stop_requested() && static_cast<int64_t>(children.size()) < o.jobs && next < runs.size()) launch(runs[next++]);
    if (children.empty()) break;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0 && children.count(pid)) {
      const auto* r = children[pid];
      children.erase(pid);
      const auto st = run_status(o.out_dir + "/" + r->dir);
      if (st == "finished" || st == "diverged") ++done;
      if (!o.quiet) fmt::print("{} {} ({}/{} done)\n", r->dir, st, done, runs.size());
      write_results(o.out_dir, all);
      continue;
    }
    if (stop_requested()) {
      // Pass the stop on: each child checkpoints and exits; then the sweep stops too.
      for (const auto& [p, r] : children) kill(p, SIGTERM);
      for (const auto& [p, r] : children) waitpid(p, &status, 0);
      children.clear();
      write_results(o.out_dir, all);
      throw Interrupted{stop_signal()};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  write_results(o.out_dir, all);
  return done;
}

Config run_config(const Config& base, const SweepRun& r, int64_t threads) {
  Config c = base;
  c.set_json("regularizer.kind", r.group, "sweep");
  c.set_json("regularizer.gamma", r.gamma, "sweep");
  if (r.param != "regularizer.gamma") c.set_json(r.param, r.value, "sweep --param " + r.param);
  c.set_json("train.seed", r.seed, "sweep");
  c.set_json("train.threads", threads, "sweep");
  return c;
}

int64_t run_sweep_ensembles(const Config& base, const std::vector<SweepRun>& runs, const std::vector<SweepRun>& all,
                            const SweepOptions& o, int64_t ensemble) {
  make_dirs(o.out_dir);
  atomic_write_text(o.out_dir + "/base_config.json", base.to_json().dump(2) + "\n");
  std::vector<const SweepRun*> pending;
  int64_t done = 0;
  for (const auto& r : runs) {
    const auto st = run_status(o.out_dir + "/" + r.dir);
    if (st == "finished" || st == "diverged") ++done;
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
  const double n = static_cast<double>(base.get_int("model.hidden")), b = static_cast<double>(base.get_int("train.batch_size"));
  // Parameters, gradients and Adam moments, plus about 4 [T, B, N] activations, per network.
  const double per_net = 4.0 * (4.0 * (n * n + 8 * n) + 4.0 * 50.0 * b * n + 50.0 * b * 8.0);
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  const auto fit = static_cast<int64_t>(0.5 * ram / per_net);
  return std::max<int64_t>(1, std::min<int64_t>({fit, pending, 256}));
}

std::string shell_quote(const std::string& word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurm_script(const std::vector<std::string>& sweep_args, int64_t shards, const std::string& out_dir,
                         const std::string& partition, const std::string& time, int64_t gpus_per_task) {
  std::string s = "#!/bin/bash\n";
  s += "#SBATCH --job-name=sernn-sweep\n";
  s += fmt::format("#SBATCH --array=0-{}\n", shards - 1);
  s += fmt::format("#SBATCH --output={}/slurm-%A_%a.out\n", out_dir);
  if (!partition.empty()) s += fmt::format("#SBATCH --partition={}\n", partition);
  if (!time.empty()) s += fmt::format("#SBATCH --time={}\n", time);
  if (gpus_per_task > 0) s += fmt::format("#SBATCH --gpus-per-task={}\n", gpus_per_task);
  s += "set -euo pipefail\n";
  std::string cmd;
  for (const auto& a : sweep_args) cmd += shell_quote(a) + " ";
  s += cmd + fmt::format("--shard \"${{SLURM_ARRAY_TASK_ID}}/{}\"\n", shards);
  return s;
}

}  // namespace sernn
