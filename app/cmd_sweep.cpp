#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/cli.h"
#include "app/commands.h"
#include "app/sweep.h"
#include "core/errors.h"
#include "core/io.h"
#include "core/parallel.h"
#include "regularizers/penalties.h"

namespace sernn {
namespace {

/// Path of the running sernn executable (children and Slurm tasks run the same binary).
std::string self_executable() {
  char self[4096] = {0};
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) throw std::runtime_error("sweep: cannot find the sernn executable (/proc/self/exe)");
  return std::string(self, static_cast<size_t>(len));
}

}  // namespace

int cmd_sweep(int argc, char** argv) {
  cxxopts::Options opts("sernn sweep",
                        "Train every (regulariser group, gamma, seed) -- or every value of another key with --param; "
                        "resumable; results.csv from the runs.");
  opts.add_options()
      ("config", "base config (.toml or .json)", cxxopts::value<std::string>())
      ("out", "sweep directory", cxxopts::value<std::string>())
      ("groups", "regulariser groups", cxxopts::value<std::string>()->default_value("l1,space,comm,sernn"))
      ("gammas", "START:STOP:COUNT (linspace) or a,b,c", cxxopts::value<std::string>()->default_value("0.001:0.3:11"))
      ("param", "sweep this numeric config key instead of regularizer.gamma (e.g. activity.gamma, "
                "prune.final_sparsity); --groups then defaults to the config's regularizer.kind",
       cxxopts::value<std::string>()->default_value("regularizer.gamma"))
      ("values", "values of --param: START:STOP:COUNT or a,b,c", cxxopts::value<std::string>())
      ("seeds", "seeds per (group, gamma), starting at train.seed", cxxopts::value<int64_t>()->default_value("1"))
      ("jobs", "runs at a time (child processes)", cxxopts::value<int64_t>()->default_value("1"))
      ("threads", "CPU threads per run (0 = cores / jobs)", cxxopts::value<int64_t>()->default_value("0"))
      ("shard", "run only shard I of M (I/M, 0-based)", cxxopts::value<std::string>())
      ("s,set", "override a config key of every run (repeatable)", cxxopts::value<std::vector<std::string>>())
      ("ensemble", "rate models: train K runs at once as one batched model (K or auto)", cxxopts::value<std::string>()->default_value("1"))
      ("slurm", "write SWEEP_DIR/sweep.sbatch (a job array over shards) instead of running")
      ("shards", "number of array tasks for --slurm (default: one per run)", cxxopts::value<int64_t>())
      ("partition", "Slurm partition", cxxopts::value<std::string>()->default_value(""))
      ("time", "Slurm time limit, e.g. 24:00:00", cxxopts::value<std::string>()->default_value(""))
      ("gpus-per-task", "Slurm GPUs per task", cxxopts::value<int64_t>()->default_value("0"))
      ("q,quiet", "no progress output")
      ("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (args.count("help")) {
    std::cout << opts.help();
    return 0;
  }
  if (!args.count("config")) throw InputError("missing --config FILE (see sernn sweep --help)");
  if (!args.count("out")) throw InputError("missing --out SWEEP_DIR");
  const auto config_path = args["config"].as<std::string>();
  auto base = Config::from_file(config_path);
  std::vector<std::string> sets;
  if (args.count("set"))
    for (const auto& s : args["set"].as<std::vector<std::string>>()) {
      base.set(s, "--set " + s);
      sets.push_back(s);
    }
  SweepPlan plan;
  plan.groups.clear();
  plan.param = args["param"].as<std::string>();
  const bool gamma_sweep = plan.param == "regularizer.gamma";
  std::string groups_text = args["groups"].as<std::string>();
  if (!gamma_sweep && !args.count("groups")) groups_text = base.get_string("regularizer.kind");
  std::stringstream gs(groups_text);
  for (std::string g; std::getline(gs, g, ',');) {
    const auto& known = penalty_names();
    if (std::find(known.begin(), known.end(), g) == known.end())
      throw InputError(fmt::format("--groups: unknown regularizer '{}' (known: {})", g, fmt::join(known, ", ")));
    plan.groups.push_back(g);
  }
  if (gamma_sweep) {
    plan.values = args.count("values") ? parse_gammas(args["values"].as<std::string>()) : parse_gammas(args["gammas"].as<std::string>());
  } else {
    const ConfigKey* key = find_config_key(plan.param);
    if (!key) throw InputError(fmt::format("--param: unknown config key '{}'", plan.param));
    if (plan.param == "train.seed") throw InputError("--param train.seed: seeds are swept with --seeds K");
    if (key->type != ConfigKey::Type::Float && key->type != ConfigKey::Type::Int)
      throw InputError(fmt::format("--param: key '{}' is not numeric (only numeric keys can be swept)", plan.param));
    if (args.count("gammas")) throw InputError("--gammas sweeps regularizer.gamma; with --param use --values");
    if (!args.count("values")) throw InputError(fmt::format("--param {}: missing --values", plan.param));
    plan.values = parse_values(args["values"].as<std::string>(), "--values", true);
    for (double v : plan.values) Config(base).set_json(plan.param, v, "--values");  // range check, naming the key
    plan.base_gamma = base.get_float("regularizer.gamma");
  }
  plan.seeds = args["seeds"].as<int64_t>();
  if (plan.seeds < 1) throw InputError("--seeds must be at least 1");
  plan.first_seed = base.get_int("train.seed");
  const auto all = expand(plan);
  const auto out = args["out"].as<std::string>();

  // The plan, for people and tools.
  nlohmann::json plan_json = {{"config", config_path}, {"set", sets},         {"groups", plan.groups},
                              {"param", plan.param},  {"values", plan.values}, {"seeds", plan.seeds},
                              {"first_seed", plan.first_seed}, {"runs", nlohmann::json::array()}};
  if (gamma_sweep) plan_json["gammas"] = plan.values;
  for (const auto& r : all)
    plan_json["runs"].push_back({{"group", r.group}, {"gamma", r.gamma}, {"value", r.value}, {"seed", r.seed}, {"dir", r.dir}});
  make_dirs(out);

  if (args.count("slurm")) {
    const int64_t shards = args.count("shards") ? args["shards"].as<int64_t>() : static_cast<int64_t>(all.size());
    if (shards < 1) throw InputError("--shards must be at least 1");
    std::string values;
    for (double v : plan.values) values += (values.empty() ? "" : ",") + fmt::format("{:.17g}", v);
    std::vector<std::string> cmd{self_executable(), "sweep", "--config", config_path, "--out", out,
                                 "--groups", groups_text, "--param", plan.param, "--values", values,
                                 "--seeds", std::to_string(plan.seeds), "--jobs", "1", "--quiet"};
    for (const auto& s : sets) cmd.insert(cmd.end(), {"--set", s});
    atomic_write_text(out + "/sweep.json", plan_json.dump(2) + "\n");
    atomic_write_text(out + "/sweep.sbatch", slurm_script(cmd, shards, out, args["partition"].as<std::string>(),
                                                          args["time"].as<std::string>(), args["gpus-per-task"].as<int64_t>()));
    fmt::print("wrote {}/sweep.sbatch ({} array tasks for {} runs); submit with: sbatch {}/sweep.sbatch\n", out, shards,
               all.size(), out);
    return 0;
  }

  std::vector<SweepRun> runs = all;
  if (args.count("shard")) {
    const auto text = args["shard"].as<std::string>();
    const auto slash = text.find('/');
    int64_t i = -1, m = 0;
    try {
      i = std::stoll(text.substr(0, slash));
      m = std::stoll(text.substr(slash + 1));
    } catch (const std::exception&) {
    }
    if (slash == std::string::npos || m < 1 || i < 0 || i >= m)
      throw InputError(fmt::format("--shard: expected I/M with 0 <= I < M, got '{}'", text));
    runs = shard(all, i, m);
  }
  atomic_write_text(out + "/sweep.json", plan_json.dump(2) + "\n");
  SweepOptions o;
  o.out_dir = out;
  o.self = self_executable();
  o.jobs = std::max<int64_t>(1, args["jobs"].as<int64_t>());
  const int64_t cores = available_cores();  // affinity mask and cgroup quota, not just the core count
  o.threads_per_job = args["threads"].as<int64_t>() > 0 ? args["threads"].as<int64_t>() : std::max<int64_t>(1, cores / o.jobs);
  o.quiet = args.count("quiet") > 0;
  const auto ens_text = args["ensemble"].as<std::string>();
  int64_t ensemble = 1;
  if (ens_text == "auto") {
    ensemble = auto_ensemble_size(base, static_cast<int64_t>(runs.size()));
  } else {
    try {
      ensemble = std::stoll(ens_text);
    } catch (const std::exception&) {
      ensemble = 0;
    }
    if (ensemble < 1) throw InputError(fmt::format("--ensemble: expected a positive integer or auto, got '{}'", ens_text));
  }
  if (ensemble > 1 && base.get_string("model.kind") != "rate")
    throw InputError("--ensemble: batched ensembles are available for rate models only; use --jobs for spiking sweeps");
  const auto done = ensemble > 1 ? run_sweep_ensembles(base, runs, all, o, ensemble) : run_sweep(base, runs, all, o);
  fmt::print("{} of {} runs done; results: {}/results.csv\n", done, runs.size(), out);
  return 0;
}

}  // namespace sernn
