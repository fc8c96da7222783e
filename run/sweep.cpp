#include "run/sweep.h"

#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "analysis/analyze.h"
#include "run/run_analysis.h"
#include "run/ensemble.h"
#include "run/registry.h"
#include "run/setup.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "core/parallel.h"
#include "core/trainer.h"
#include "core/run_dir.h"
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

/// A cached JSON file of a run directory; null when missing or torn (then it is recomputed).
nlohmann::json read_cache(const std::string& path) {
  if (!file_exists(path)) return nullptr;
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

/// j[k1] or j[k1][k2]; null where a level is missing.
nlohmann::json field(const nlohmann::json& j, const char* k1, const char* k2 = nullptr) {
  if (!j.is_object() || !j.contains(k1)) return nullptr;
  if (!k2) return j[k1];
  return j[k1].is_object() && j[k1].contains(k2) ? j[k1][k2] : nlohmann::json();
}

/// Whether `j` (final_analysis.json) is the complete analysis of `epoch`.
bool is_final_analysis(const nlohmann::json& j, int64_t epoch) {
  return j.is_object() && json_int(j, "epoch", -1) == epoch && j.contains("pathways") &&
         j.contains("ablation_test_acc");
}

bool is_cached(const std::string& cache, int64_t epoch) { return is_final_analysis(read_cache(cache), epoch); }

/// Analysis of a run's last snapshot, cached in the run directory. `task`: the run's task when the
/// caller has built it (for the recurrence ablation; else built from the run's config).
nlohmann::json final_analysis(const RunDir& run, int64_t epoch, std::shared_ptr<const Task> task = nullptr) {
  const auto cache = run.file("final_analysis.json");
  auto j = read_cache(cache);
  if (is_final_analysis(j, epoch)) return j;
  torch::Tensor coords;
  if (file_exists(run.file("coords.csv"))) coords = run.read_coords();
  AnalysisOptions o;
  // The run's own convention (regularizer.strength honoured), as `sernn analyze` uses it.
  o.strength = run.exists() ? config_strength(read_run_config(run.path())) : Strength::Out;
  j = analyze_matrix(run.read_weights(epoch), coords, o);
  j["pathways"] = run_pathways(run.path(), epoch);
  j["epoch"] = epoch;
  // The recurrence ablation at the last epoch (test accuracy with W = 0: docs/analysis.md), where
  // the run's data can be read.
  auto snapshots = nlohmann::json::array({{{"epoch", epoch}}});
  j["ablation_test_acc"] = nullptr;
  if (add_recurrence_ablation(run.path(), snapshots, std::move(task)).empty() &&
      snapshots[0].contains("ablation_test_acc"))
    j["ablation_test_acc"] = snapshots[0]["ablation_test_acc"];
  atomic_write_text(cache, j.dump() + "\n");
  return j;
}

/// The seed-000 measures of every weight snapshot of a finished run, by epoch ("0", "1", ...),
/// cached in the run directory (epoch_measures.json).
nlohmann::json epoch_measures(const RunDir& run) {
  const auto cache = run.file("epoch_measures.json");
  auto j = read_cache(cache);
  if (!j.is_object()) j = nlohmann::json::object();
  AnalysisOptions o;
  o.strength = config_strength(read_run_config(run.path()));
  torch::Tensor coords;
  if (file_exists(run.file("coords.csv"))) coords = run.read_coords();
  bool changed = false;
  // (An entry without symmetry is from before that measure: computed again.)
  for (int64_t e = 0; file_exists(run.weights_path(e)); ++e)
    if (!j.contains(std::to_string(e)) || !j[std::to_string(e)].contains("symmetry")) {
      j[std::to_string(e)] = reference_measures(run.read_weights(e), coords, o);
      changed = true;
    }
  if (changed) atomic_write_text(cache, j.dump() + "\n");
  return j;
}

/// Fills the analysis caches of every finished run that lacks them, several runs at once on the
/// pool (each run's analysis is serial LibTorch and graph work on a small matrix; a large sweep
/// has thousands of snapshots). The analyses are deterministic (their own seeded generators), so
/// the order does not matter. Runs whose configs differ only in their regularizer (a γ sweep) read
/// the same data: their task, which the recurrence ablation evaluates them on, is built once per
/// such group (and released after it), not once per run.
void analyse_pending(const std::string& out_dir, const std::vector<SweepRun>& runs) {
  struct Pending {
    RunDir run;
    int64_t epoch;  ///< the last
    Config config;
  };
  std::map<std::string, std::vector<Pending>> groups;  // by the config without its regularizer
  for (const auto& r : runs) {
    RunDir run(out_dir + "/" + r.dir);
    if (!run.state().done()) continue;
    const auto m = run.last_metrics();
    const int64_t epoch = json_int(m, "epoch", -1);
    if (epoch < 0) continue;
    auto config = read_run_config(run.path());
    auto key = config.to_json();
    key.erase("regularizer");
    groups[key.dump()].push_back({std::move(run), epoch, std::move(config)});
  }
  for (auto& group : groups) {
    auto& todo = group.second;  // (a plain reference: clang's C++17 lambdas cannot capture a binding)
    std::shared_ptr<const Task> task;
    if (std::any_of(todo.begin(), todo.end(),
                    [](const Pending& p) { return !is_cached(p.run.file("final_analysis.json"), p.epoch); })) {
      try {
        task = make_task(todo.front().config);
      } catch (const InputError&) {
        // The data moved: final_analysis records no ablation (add_recurrence_ablation says why).
      }
    }
    parallel_for(
        0, static_cast<int64_t>(todo.size()), 1,
        [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) {
            final_analysis(todo[i].run, todo[i].epoch, task);
            epoch_measures(todo[i].run);
          }
        },
        /*chunks_per_thread=*/8);
  }
}

std::string csv_number(const nlohmann::json& v) {
  return v.is_number() ? fmt::format("{:.10g}", v.get<double>()) : std::string();
}

std::string format_gamma(double g) { return fmt::format("{:.6g}", g); }

}  // namespace

std::vector<double> parse_gammas(const std::string& text) { return parse_values(text, "--gammas", false); }

std::vector<std::pair<std::string, std::vector<double>>> parse_group_gammas(const std::string& text,
                                                                            const std::string& option) {
  std::vector<std::pair<std::string, std::string>> parts;  // group, its values' text
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto eq = item.find('=');
    if (eq != std::string::npos) parts.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    else if (parts.empty()) throw InputError(fmt::format("{}: '{}' must start with GROUP=", option, text));
    else parts.back().second += "," + item;
  }
  std::vector<std::pair<std::string, std::vector<double>>> out;
  for (const auto& [group, values] : parts) {
    if (group.empty() || values.empty())
      throw InputError(fmt::format("{}: expected GROUP=VALUES in '{}', got '{}={}'", option, text, group, values));
    for (const auto& seen : out)
      if (seen.first == group) throw InputError(fmt::format("{}: group '{}' given twice in '{}'", option, group, text));
    out.emplace_back(group, parse_values(values, option + " (" + group + ")", false));
  }
  return out;
}

SweepGroup find_sweep_group(const std::string& name, const std::string& option) {
  // The controls of seed 000's protocol (rate_generate_statistics.m: L1, seRNN, space-only,
  // comm-only, the random-label control and a harder task).
  if (name == "random") return {"random", "sernn", {{"task.shuffle_labels", "true"}}};
  return {name, find_penalty(name, option).name, {}};
}

std::vector<double> parse_values(const std::string& text, const std::string& option, bool allow_negative) {
  std::vector<double> out;
  const auto colon = text.find(':');
  const auto number = [&](const std::string& s) { return parse_number(s, text, option, allow_negative); };
  if (colon != std::string::npos) {
    const auto second = text.find(':', colon + 1);
    if (second == std::string::npos)
      throw InputError(fmt::format("{}: expected START:STOP:COUNT, got '{}'", option, text));
    const double a = number(text.substr(0, colon)), b = number(text.substr(colon + 1, second - colon - 1));
    const double n = number(text.substr(second + 1));
    if (n < 1 || std::floor(n) != n || n > 1e6)
      throw InputError(fmt::format("{}: COUNT in '{}' must be a whole number >= 1", option, text));
    const auto count = static_cast<int64_t>(n);
    for (int64_t i = 0; i < count; ++i)
      out.push_back(count == 1 ? a : a + (b - a) * static_cast<double>(i) / (count - 1));
    return out;
  }
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(number(item));
  if (out.empty()) throw InputError(option + ": empty list");
  return out;
}

SweepPlan make_plan(const Config& base, const SweepRequest& r) {
  SweepPlan plan;
  plan.groups.clear();
  plan.param = r.param;
  const bool gamma_sweep = plan.param == "regularizer.gamma";
  const std::string groups_text = !gamma_sweep && !r.groups_given ? base.get_string("regularizer.kind") : r.groups;
  const std::string gammas_text = r.values.empty() ? r.gammas : r.values;
  const bool per_group = gamma_sweep && gammas_text.find('=') != std::string::npos;
  if (per_group) {
    // --gammas GROUP=VALUES,...: the groups are those named there (--groups, if given, must agree).
    for (auto& [g, v] : parse_group_gammas(gammas_text, "--gammas")) {
      plan.groups.push_back(find_sweep_group(g, "--gammas").name);
      plan.group_values[g] = std::move(v);
    }
    if (r.groups_given) {
      std::stringstream gs(groups_text);
      for (std::string g; std::getline(gs, g, ',');)
        if (!plan.group_values.count(g))
          throw InputError(fmt::format("--groups: '{}' has no γs in --gammas '{}'", g, gammas_text));
    }
  } else {
    std::stringstream gs(groups_text);
    for (std::string g; std::getline(gs, g, ',');) plan.groups.push_back(find_sweep_group(g, "--groups").name);
  }
  if (gamma_sweep) {
    if (!per_group) plan.values = parse_gammas(gammas_text);
  } else {
    const ConfigKey* key = find_config_key(plan.param);
    if (!key) throw InputError(fmt::format("--param: unknown config key '{}'", plan.param));
    if (plan.param == "train.seed") throw InputError("--param train.seed: seeds are swept with --seeds K");
    if (key->type != ConfigKey::Type::Float && key->type != ConfigKey::Type::Int)
      throw InputError(fmt::format("--param: key '{}' is not numeric (only numeric keys can be swept)", plan.param));
    if (r.gammas_given) throw InputError("--gammas sweeps regularizer.gamma; with --param use --values");
    if (r.values.empty()) throw InputError(fmt::format("--param {}: missing --values", plan.param));
    plan.values = parse_values(r.values, "--values", true);
    for (double v : plan.values) Config(base).set_json(plan.param, v, "--values");  // range check, naming the key
    plan.base_gamma = base.get_float("regularizer.gamma");
  }
  plan.seeds = r.seeds;
  if (plan.seeds < 1) throw InputError("--seeds must be at least 1");
  plan.first_seed = base.get_int("train.seed");
  return plan;
}

nlohmann::json sweep_plan_json(const SweepPlan& plan, const std::vector<SweepRun>& all, const std::string& config_path,
                               const std::vector<std::string>& sets) {
  nlohmann::json j = {{"config", config_path},         {"set", sets},
                      {"groups", plan.groups},         {"param", plan.param},
                      {"values", plan.values},         {"seeds", plan.seeds},
                      {"first_seed", plan.first_seed}, {"runs", nlohmann::json::array()}};
  if (plan.param == "regularizer.gamma") j["gammas"] = plan.values;
  if (!plan.group_values.empty()) j["group_gammas"] = plan.group_values;
  for (const auto& r : all)
    j["runs"].push_back({{"group", r.group}, {"gamma", r.gamma}, {"value", r.value}, {"seed", r.seed}, {"dir", r.dir}});
  return j;
}

std::pair<int64_t, int64_t> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  int64_t i = -1, m = 0;
  try {
    i = std::stoll(text.substr(0, slash));
    m = std::stoll(text.substr(slash + 1));
  } catch (const std::exception&) {
  }
  if (slash == std::string::npos || m < 1 || i < 0 || i >= m)
    throw InputError(fmt::format("--shard: expected I/M with 0 <= I < M, got '{}'", text));
  return {i, m};
}

std::vector<SweepRun> expand(const SweepPlan& plan) {
  std::vector<SweepRun> runs;
  const bool gamma_sweep = plan.param == "regularizer.gamma";
  // γ sweeps keep their historical directory names (runs/GROUP/gamma_G/seed_S).
  const std::string label = gamma_sweep ? "gamma" : plan.param;
  for (const auto& g : plan.groups)
    for (double v : plan.group_values.count(g) ? plan.group_values.at(g) : plan.values)
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
      "entropy_spectral,lambda_max,total_weight,ablation_test_acc,run_dir,mean_hops";
  csv += extra ? ",param,value\n" : "\n";
  analyse_pending(out_dir, runs);
  for (const auto& r : runs) {
    const RunDir run(out_dir + "/" + r.dir);
    const auto state = run.state();
    const auto m = run.last_metrics();
    const int64_t last_epoch = json_int(m, "epoch", -1);
    nlohmann::json a;
    if (state.done() && last_epoch >= 0) a = final_analysis(run, last_epoch);
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", r.group, format_gamma(r.gamma), r.seed,
                       status_name(state.status), last_epoch >= 0 ? std::to_string(last_epoch) : "",
                       csv_number(field(m, "train_acc")), csv_number(field(m, "val_acc")),
                       csv_number(field(m, "test_acc")), csv_number(field(m, "task_loss")),
                       csv_number(field(a, "modularity", "q")), csv_number(field(a, "entropy", "weights")),
                       csv_number(field(a, "entropy", "communicability")), csv_number(field(a, "entropy", "spectral")),
                       csv_number(field(a, "spectrum", "lambda_max")), csv_number(field(a, "total_weight")),
                       csv_number(field(a, "ablation_test_acc")), r.dir);
    csv += "," + csv_number(field(a, "pathways", "mean_hops"));
    csv += extra ? fmt::format(",{},{:.10g}\n", r.param, r.value) : "\n";
  }
  atomic_write_text(out_dir + "/results.csv", csv);
  write_epoch_results(out_dir, runs);
}

void write_epoch_results(const std::string& out_dir, const std::vector<SweepRun>& runs) {
  std::string csv =
      "group,gamma,seed,epoch,train_acc,val_acc,test_acc,task_loss,q,entropy_weights,entropy_communicability,"
      "entropy_spectral,lambda_max,total_weight,r_weight_distance,run_dir\n";
  for (const auto& r : runs) {
    const RunDir run(out_dir + "/" + r.dir);
    if (!run.state().done()) continue;
    std::map<int64_t, nlohmann::json> by_epoch;
    for (const auto& m : run.metrics())
      if (const int64_t e = json_int(m, "epoch", -1); e >= 0) by_epoch[e] = m;
    // Held in a variable: items() of a temporary would dangle in the loop (before C++23).
    const auto cached = epoch_measures(run);
    std::map<int64_t, nlohmann::json> measures;  // numeric order (the JSON keys sort as text)
    for (const auto& item : cached.items())
      if (!item.key().empty() && item.key().find_first_not_of("0123456789") == std::string::npos &&
          item.key().size() < 10)
        measures[std::stoll(item.key())] = item.value();  // other keys: not an epoch (a hand-edited cache)
    for (const auto& [e, a] : measures) {
      const auto m = by_epoch.count(e) ? by_epoch[e] : nlohmann::json();
      csv += fmt::format(
          "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.group, format_gamma(r.gamma), r.seed, e,
          csv_number(field(m, "train_acc")), csv_number(field(m, "val_acc")), csv_number(field(m, "test_acc")),
          csv_number(field(m, "task_loss")), csv_number(field(a, "modularity", "q")),
          csv_number(field(a, "entropy", "weights")), csv_number(field(a, "entropy", "communicability")),
          csv_number(field(a, "entropy", "spectral")), csv_number(field(a, "spectrum", "lambda_max")),
          csv_number(field(a, "total_weight")), csv_number(field(a, "weight_distance", "r_reference")), r.dir);
    }
  }
  atomic_write_text(out_dir + "/results_epochs.csv", csv);
}

std::vector<std::map<std::string, std::string>> read_results(const std::string& sweep_dir) {
  return read_csv_rows(sweep_dir + "/results.csv");
}

std::vector<std::map<std::string, std::string>> read_csv_rows(const std::string& path) {
  std::vector<std::map<std::string, std::string>> rows;
  std::istringstream in(read_file(path));
  std::string line, cell;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    if (header.empty()) {
      header = cells;
      continue;
    }
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size(); ++i) row[header[i]] = i < cells.size() ? cells[i] : "";
    rows.push_back(std::move(row));
  }
  if (header.empty() || std::find(header.begin(), header.end(), "gamma") == header.end())
    throw InputError(fmt::format("{}: not a sweep results file (no gamma column)", path));
  return rows;
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
    if (RunDir(dir).state().done()) {
      ++done;
      return false;
    }
    std::vector<std::string> args{o.self, "train"};
    if (file_exists(dir + "/checkpoint.pt") && file_exists(dir + "/config.json")) {
      args.insert(args.end(), {"--resume", dir});
    } else {
      make_dirs(dir);
      args.insert(args.end(),
                  {"--config", base_path, "--out", dir, "--force", "--set", "regularizer.kind=" + r.group, "--set",
                   "regularizer.gamma=" + fmt::format("{:.17g}", r.gamma), "--seed", std::to_string(r.seed)});
      if (r.param != "regularizer.gamma")
        args.insert(args.end(), {"--set", r.param + "=" + fmt::format("{:.17g}", r.value)});
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
    while (!stop_requested() && static_cast<int64_t>(children.size()) < o.jobs && next < runs.size())
      launch(runs[next++]);
    if (children.empty()) break;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0 && children.count(pid)) {
      const auto* r = children[pid];
      children.erase(pid);
      const auto st = RunDir(o.out_dir + "/" + r->dir).state();
      if (st.done()) ++done;
      if (!o.quiet) fmt::print("{} {} ({}/{} done)\n", r->dir, status_name(st.status), done, runs.size());
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
  const auto group = find_sweep_group(r.group, "sweep group");
  c.set_json("regularizer.kind", group.kind, "sweep");
  for (const auto& [key, value] : group.sets) c.set(key + "=" + value, "sweep group " + r.group);
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
  int64_t done = 0;
  // Between ensembles nothing else runs: the analyses take the threads the training had (all
  // available cores where that is automatic).
  auto results = [&] {
    const int64_t threads = o.threads_per_job * o.jobs;
    set_parallel_threads(threads > 0 ? threads : available_cores());
    write_results(o.out_dir, all);
  };
  // Groups at fixed places in the run list, so a resumed sweep finds each group's checkpoint.
  for (size_t i = 0; i < runs.size(); i += static_cast<size_t>(ensemble)) {
    std::vector<Config> configs;
    std::vector<std::string> dirs;
    bool pending = false;
    for (size_t j = i; j < std::min(runs.size(), i + static_cast<size_t>(ensemble)); ++j) {
      configs.push_back(run_config(base, runs[j], o.threads_per_job * o.jobs));
      dirs.push_back(o.out_dir + "/" + runs[j].dir);
      pending |= !RunDir(dirs.back()).state().done();
    }
    if (!pending) {
      done += static_cast<int64_t>(configs.size());
      continue;
    }
    if (stop_requested()) {
      results();
      throw Interrupted{stop_signal()};
    }
    std::string name = runs[i].dir;
    std::replace(name.begin(), name.end(), '/', '_');
    const auto ensemble_dir = fmt::format("{}/ensembles/K{}_{}", o.out_dir, configs.size(), name);
    try {
      train_ensemble(configs, dirs, ensemble_dir, file_exists(ensemble_dir + "/checkpoint.pt"), o.quiet);
    } catch (const Interrupted&) {
      results();
      throw;
    } catch (const Diverged& e) {
      // Every member diverged: each one's status says so; the sweep goes on.
      if (!o.quiet) fmt::print("{}: {}\n", ensemble_dir, e.what());
    }
    done += static_cast<int64_t>(configs.size());
    results();
    if (!o.quiet) fmt::print("ensemble of {} done ({}/{} runs)\n", configs.size(), done, runs.size());
  }
  results();
  return done;
}

std::string self_executable() {
  char self[4096] = {0};
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) throw std::runtime_error("sweep: cannot find the sernn executable (/proc/self/exe)");
  return std::string(self, static_cast<size_t>(len));
}

std::vector<std::string> sweep_command(const std::string& self, const SweepPlan& plan, const std::string& config_path,
                                       const std::string& out_dir, const std::vector<std::string>& sets) {
  std::string values, groups;
  for (double v : plan.values) values += (values.empty() ? "" : ",") + fmt::format("{:.17g}", v);
  for (const auto& g : plan.groups) groups += (groups.empty() ? "" : ",") + g;
  if (!plan.group_values.empty()) {  // --values GROUP=v,v,...,GROUP=v,...
    values.clear();
    for (const auto& g : plan.groups) {
      values += (values.empty() ? "" : ",") + g + "=";
      std::string list;
      for (double v : plan.group_values.at(g)) list += (list.empty() ? "" : ",") + fmt::format("{:.17g}", v);
      values += list;
    }
  }
  std::vector<std::string> cmd{
      self,     "sweep",   "--config", config_path, "--out", out_dir,   "--groups",
      groups,   "--param", plan.param, "--values",  values,  "--seeds", std::to_string(plan.seeds),
      "--jobs", "1",       "--quiet"};
  for (const auto& s : sets) cmd.insert(cmd.end(), {"--set", s});
  return cmd;
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
