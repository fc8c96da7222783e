#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "analysis/analyze.h"
#include "app/cli.h"
#include "app/commands.h"
#include "core/errors.h"
#include "core/io.h"
#include "run/config.h"
#include "run/run_analysis.h"
#include "run/setup.h"

namespace sernn {
namespace {

Strength parse_strength(const std::string& s) {
  if (s == "in") return Strength::In;
  if (s == "out") return Strength::Out;
  throw InputError(fmt::format("--strength: unknown value '{}' (known: in, out, auto)", s));
}

}  // namespace

int cmd_analyze(int argc, char** argv) {
  cxxopts::Options opts(
      "sernn analyze",
      "Analyse every weight snapshot of a run (writes RUN_DIR/analysis.json), or one matrix (--weights).");
  opts.positional_help("[RUN_DIR]");
  opts.add_options()("run", "run directory", cxxopts::value<std::string>())(
      "out", "output file (default RUN_DIR/analysis.json)", cxxopts::value<std::string>())(
      "weights", "analyse one matrix: N rows of N comma-separated values, row = postsynaptic",
      cxxopts::value<std::string>())("coords",
                                     "N x 3 coordinates CSV for --weights (default: the 5x5x4 grid when N = 100)",
                                     cxxopts::value<std::string>())(
      "gamma-modularity", "resolution of the directed modularity", cxxopts::value<double>()->default_value("1.0"))(
      "strength", "communicability normalisation: in, out or auto (run: its config; matrix: in)",
      cxxopts::value<std::string>()->default_value("auto"))("nulls", "random nulls for small_world.sigma",
                                                            cxxopts::value<int64_t>()->default_value("10"))(
      "max-hops", "last epoch: longest pathway of the input -> output hop decomposition (-1 = skip)",
      cxxopts::value<int64_t>()->default_value("8"))(
      "dynamics-starts", "rate runs: initial states of the fixed-point search on the last epoch (0 = skip)",
      cxxopts::value<int64_t>()->default_value("64"))(
      "ablation",
      "every snapshot's test accuracy with and without its recurrent weight (test_acc, ablation_test_acc; "
      "--ablation=false to skip)",
      cxxopts::value<bool>()->default_value("true"))("json", "print JSON to stdout (the default for --weights)")(
      "h,help", "show this help");
  opts.parse_positional({"run"});
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args, "\nKeys and definitions: docs/analysis.md\n")) return 0;
  AnalysisOptions o;
  o.gamma_modularity = args["gamma-modularity"].as<double>();
  if (!std::isfinite(o.gamma_modularity) || o.gamma_modularity < 0)
    throw InputError(fmt::format("--gamma-modularity: {} must be a finite non-negative number", o.gamma_modularity));
  o.nulls = std::max<int64_t>(1, args["nulls"].as<int64_t>());
  const auto strength = args["strength"].as<std::string>();

  if (args.count("weights")) {
    if (args.count("run")) throw InputError("give either RUN_DIR or --weights, not both");
    o.strength = strength == "auto" ? Strength::In : parse_strength(strength);
    const auto coords = args.count("coords") ? args["coords"].as<std::string>() : std::string();
    std::cout << analyze_matrix_file(args["weights"].as<std::string>(), coords, o).dump() << "\n";
    return 0;
  }
  if (!args.count("run")) throw InputError("missing RUN_DIR or --weights FILE (see sernn analyze --help)");
  const auto run = args["run"].as<std::string>();
  if (!file_exists(run + "/config.json"))
    throw InputError(fmt::format("{}: not a run directory (config.json missing)", run));
  o.strength = strength == "auto" ? config_strength(read_run_config(run)) : parse_strength(strength);
  const auto t0 = std::chrono::steady_clock::now();
  std::string warning;
  const auto result = analyze_run_with_dynamics(run, o, args["dynamics-starts"].as<int64_t>(),
                                                args["max-hops"].as<int64_t>(), args["ablation"].as<bool>(), &warning);
  if (!warning.empty()) fmt::print(stderr, "sernn analyze: {}\n", warning);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto out = args.count("out") ? args["out"].as<std::string>() : run + "/analysis.json";
  atomic_write_text(out, result.dump() + "\n");
  if (args.count("json")) std::cout << result.dump() << "\n";
  else fmt::print("analysed {} snapshots in {:.2f}s -> {}\n", result.size(), secs, out);
  return 0;
}

int cmd_report(int argc, char** argv) {
  cxxopts::Options opts("sernn report",
                        "Write a self-contained HTML report (inline SVG) for a run directory, a sweep directory, or "
                        "several sweeps on one page (seed 000's rate and spiking halves).");
  opts.positional_help("DIR [SWEEP_DIR...]");
  opts.add_options()("dir", "run or sweep directories", cxxopts::value<std::vector<std::string>>())(
      "o,out", "output HTML file (default DIR/report.html)", cxxopts::value<std::string>())(
      "min-accuracy", "sweeps: leave out runs below this test accuracy (e.g. 0.9 rate, 0.45 spiking)",
      cxxopts::value<double>())("filter", "sweeps: the reference's filter (0.9 for rate, 0.45 for spiking runs)")(
      "h,help", "show this help");
  opts.parse_positional({"dir"});
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args)) return 0;
  if (!args.count("dir")) throw InputError("missing DIR (see sernn report --help)");
  const auto dirs = args["dir"].as<std::vector<std::string>>();
  const auto out = args.count("out") ? args["out"].as<std::string>() : dirs.front() + "/report.html";
  const double min_acc = args.count("min-accuracy") ? args["min-accuracy"].as<double>() : -1.0;
  atomic_write_text(out, report(dirs, min_acc, args.count("filter") > 0));
  fmt::print("wrote {}\n", out);
  return 0;
}

}  // namespace sernn
