#include <cstdio>

#include "app/cli.h"
#include <fmt/format.h>

#include "app/commands.h"
#include "run/setup.h"
#include "core/errors.h"
#include "core/distributed.h"
#include "core/io.h"

namespace sernn {

int cmd_train(int argc, char** argv) {
  cxxopts::Options opts("sernn train", "Train one network; writes a run directory (see README: Run directory).");
  opts.add_options()("c,config", "config file (.toml or .json); defaults apply to keys it leaves out",
                     cxxopts::value<std::string>())("o,out", "run directory to create", cxxopts::value<std::string>())(
      "s,set", "override a config key, e.g. --set regularizer.gamma=0.05 (repeatable)",
      cxxopts::value<std::vector<std::string>>())("threads", "intra-op CPU threads (train.threads; 0 = all cores)",
                                                  cxxopts::value<int64_t>())(
      "device", "cpu or cuda (train.device)", cxxopts::value<std::string>())("seed", "random seed (train.seed)",
                                                                             cxxopts::value<int64_t>())(
      "resume", "continue the run in this directory from its last checkpoint", cxxopts::value<std::string>())(
      "force", "replace an existing run in --out")(
      "world-size", "data-parallel: number of processes (or env WORLD_SIZE)", cxxopts::value<int64_t>())(
      "rank", "data-parallel: this process's rank (or env RANK)", cxxopts::value<int64_t>())(
      "master-addr", "data-parallel: rendezvous address (or env MASTER_ADDR)", cxxopts::value<std::string>())(
      "master-port", "data-parallel: rendezvous port (or env MASTER_PORT)", cxxopts::value<int64_t>())(
      "q,quiet", "no progress output")("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args, "\nConfig keys: see README.md (\"Config keys\") or `sernn config --keys`.\n")) return 0;
  const bool resume = args.count("resume") > 0;
  if (resume && (args.count("out") || args.count("config")))
    throw InputError(
        "--resume RUN_DIR takes the config from RUN_DIR/config.json; do not combine it with --out/--config");
  if (!resume && !args.count("out")) throw InputError("missing --out RUN_DIR (see sernn train --help)");
  const std::string out = resume ? args["resume"].as<std::string>() : args["out"].as<std::string>();

  Config config;
  if (resume) {
    config = read_run_config(out);
  } else if (args.count("config")) {
    config = Config::from_file(args["config"].as<std::string>());
  }
  if (args.count("set"))
    for (const auto& s : args["set"].as<std::vector<std::string>>()) config.set(s, "--set " + s);
  if (args.count("threads")) config.set_json("train.threads", args["threads"].as<int64_t>(), "--threads");
  if (args.count("device")) config.set_json("train.device", args["device"].as<std::string>(), "--device");
  if (args.count("seed")) config.set_json("train.seed", args["seed"].as<int64_t>(), "--seed");

  DistributedOptions dist;
  if (args.count("world-size")) dist.world_size = args["world-size"].as<int64_t>();
  if (args.count("rank")) dist.rank = args["rank"].as<int64_t>();
  if (args.count("master-addr")) dist.master_addr = args["master-addr"].as<std::string>();
  if (args.count("master-port")) dist.master_port = args["master-port"].as<int64_t>();
  dist = distributed_from_env(dist, args.count("world-size") > 0, args.count("rank") > 0, args.count("master-addr") > 0,
                              args.count("master-port") > 0);
  std::shared_ptr<Collective> collective;
  if (dist.world_size > 1) {
    // Validate everything else before joining the group, so bad input fails fast on every rank.
    check_memory_fits(config);
    collective = make_gloo_collective(dist);
  }

  if (!resume && dist.rank == 0 && file_exists(out + "/config.json") && !args.count("force"))
    throw InputError(
        fmt::format("{}: already holds a run; use --resume {} to continue it or --force to replace it", out, out));

  const bool quiet = args.count("quiet") > 0;
  auto last = train_run(config, out, resume, quiet, collective);
  if (dist.rank != 0) return 0;
  if (!quiet) {
    fmt::print("results: {}/ (metrics.jsonl, weights/, checkpoint.pt, config.json, coords.csv)\n", out);
    if (last.contains("test_acc")) fmt::print("final test accuracy: {:.2f}%\n", 100.0 * last["test_acc"].get<double>());
  }
  return 0;
}

}  // namespace sernn
