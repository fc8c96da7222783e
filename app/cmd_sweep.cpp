#include <algorithm>

#include <fmt/format.h>

#include "app/cli.h"
#include "app/commands.h"
#include "run/ensemble.h"
#include "run/sweep.h"
#include "core/errors.h"
#include "core/io.h"
#include "core/parallel.h"

namespace sernn {
namespace {

/// The sweep's flags as a SweepRequest (checked by make_plan).
SweepRequest sweep_request(const cxxopts::ParseResult& args) {
  SweepRequest request;
  request.groups = args["groups"].as<std::string>();
  request.groups_given = args.count("groups") > 0;
  request.param = args["param"].as<std::string>();
  request.gammas = args["gammas"].as<std::string>();
  request.gammas_given = args.count("gammas") > 0;
  if (args.count("values")) request.values = args["values"].as<std::string>();
  request.seeds = args["seeds"].as<int64_t>();
  return request;
}

/// SWEEP_DIR/sweep.sbatch: a Slurm job array whose tasks run the shards of the same sweep.
void write_slurm(const cxxopts::ParseResult& args, const SweepPlan& plan, size_t runs, const std::string& config_path,
                 const std::string& out, const std::vector<std::string>& sets) {
  const int64_t shards = args.count("shards") ? args["shards"].as<int64_t>() : static_cast<int64_t>(runs);
  if (shards < 1) throw InputError("--shards must be at least 1");
  const auto cmd = sweep_command(self_executable(), plan, config_path, out, sets);
  atomic_write_text(out + "/sweep.sbatch",
                    slurm_script(cmd, shards, out, args["partition"].as<std::string>(), args["time"].as<std::string>(),
                                 args["gpus-per-task"].as<int64_t>()));
  fmt::print("wrote {}/sweep.sbatch ({} array tasks for {} runs); submit with: sbatch {}/sweep.sbatch\n", out, shards,
             runs, out);
}

/// --ensemble: a positive count, or auto (as many of the pending runs as fit in memory).
int64_t ensemble_size(const std::string& text, const Config& base, int64_t pending) {
  if (text == "auto") return auto_ensemble_size(base, pending);
  int64_t k = 0;
  try {
    k = std::stoll(text);
  } catch (const std::exception&) {
  }
  if (k < 1) throw InputError(fmt::format("--ensemble: expected a positive integer or auto, got '{}'", text));
  return k;
}

}  // namespace

int cmd_sweep(int argc, char** argv) {
  cxxopts::Options opts("sernn sweep",
                        "Train every (regulariser group, gamma, seed) -- or every value of another key with --param; "
                        "resumable; results.csv from the runs.");
  opts.add_options()("config", "base config (.toml or .json)", cxxopts::value<std::string>())(
      "out", "sweep directory", cxxopts::value<std::string>())(
      "groups", "regulariser groups", cxxopts::value<std::string>()->default_value("l1,space,comm,sernn"))(
      "gammas",
      "START:STOP:COUNT (linspace) or a,b,c; per group: GROUP=VALUES,GROUP=VALUES (e.g. "
      "l1=0:1:1001,sernn=0:1:1001,random=0:1:101)",
      cxxopts::value<std::string>()->default_value("0.001:0.3:11"))(
      "param",
      "sweep this numeric config key instead of regularizer.gamma (e.g. activity.gamma, "
      "prune.final_sparsity); --groups then defaults to the config's regularizer.kind",
      cxxopts::value<std::string>()->default_value("regularizer.gamma"))(
      "values", "values of --param: START:STOP:COUNT or a,b,c", cxxopts::value<std::string>())(
      "seeds", "seeds per (group, gamma), starting at train.seed", cxxopts::value<int64_t>()->default_value("1"))(
      "jobs", "runs at a time (child processes)", cxxopts::value<int64_t>()->default_value("1"))(
      "threads", "CPU threads per run (0 = cores / jobs)", cxxopts::value<int64_t>()->default_value("0"))(
      "shard", "run only shard I of M (I/M, 0-based)", cxxopts::value<std::string>())(
      "s,set", "override a config key of every run (repeatable)", cxxopts::value<std::vector<std::string>>())(
      "ensemble", "train K runs at once as one batched model (K, or auto: as many as fit in the memory measured now)",
      cxxopts::value<std::string>()->default_value("1"))(
      "slurm", "write SWEEP_DIR/sweep.sbatch (a job array over shards) instead of running")(
      "shards", "number of array tasks for --slurm (default: one per run)", cxxopts::value<int64_t>())(
      "partition", "Slurm partition", cxxopts::value<std::string>()->default_value(""))(
      "time", "Slurm time limit, e.g. 24:00:00", cxxopts::value<std::string>()->default_value(""))(
      "gpus-per-task", "Slurm GPUs per task", cxxopts::value<int64_t>()->default_value("0"))(
      "q,quiet", "no progress output")("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args)) return 0;
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
  const auto plan = make_plan(base, sweep_request(args));
  const auto all = expand(plan);
  const auto out = args["out"].as<std::string>();

  // The plan, for people and tools.
  nlohmann::json plan_json = sweep_plan_json(plan, all, config_path, sets);
  make_dirs(out);

  if (args.count("slurm")) {
    atomic_write_text(out + "/sweep.json", plan_json.dump(2) + "\n");
    write_slurm(args, plan, all.size(), config_path, out, sets);
    return 0;
  }

  std::vector<SweepRun> runs = all;
  if (args.count("shard")) {
    const auto [i, m] = parse_shard(args["shard"].as<std::string>());
    runs = shard(all, i, m);
  }
  atomic_write_text(out + "/sweep.json", plan_json.dump(2) + "\n");
  SweepOptions o;
  o.out_dir = out;
  o.self = self_executable();
  o.jobs = std::max<int64_t>(1, args["jobs"].as<int64_t>());
  const int64_t cores = available_cores();  // affinity mask and cgroup quota, not just the core count
  o.threads_per_job =
      args["threads"].as<int64_t>() > 0 ? args["threads"].as<int64_t>() : std::max<int64_t>(1, cores / o.jobs);
  o.quiet = args.count("quiet") > 0;
  const int64_t ensemble = ensemble_size(args["ensemble"].as<std::string>(), base, static_cast<int64_t>(runs.size()));
  const auto done = ensemble > 1 ? run_sweep_ensembles(base, runs, all, o, ensemble) : run_sweep(base, runs, all, o);
  fmt::print("{} of {} runs done; results: {}/results.csv\n", done, runs.size(), out);
  return 0;
}

}  // namespace sernn
