#include <algorithm>
#include <chrono>
#include <map>
#include <cmath>
#include <sstream>
#include <iostream>

#include "app/cli.h"
#include <fmt/format.h>

#include "analysis/analyze.h"
#include "analysis/dynamics.h"
#include "analysis/report.h"
#include "app/commands.h"
#include "run/run_analysis.h"
#include "run/setup.h"
#include "run/sweep.h"
#include "run/config.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "models/rate_rnn.h"

namespace sernn {
namespace {

Strength parse_strength(const std::string& s) {
  if (s == "in") return Strength::In;
  if (s == "out") return Strength::Out;
  throw InputError(fmt::format("--strength: unknown value '{}' (known: in, out, auto)", s));
}

}  // namespace

int cmd_analyze(int argc, char** argv) {
  cxxopts::Options opts("sernn analyze",
                        "Analyse every weight snapshot of a run (writes RUN_DIR/analysis.json), or one matrix (--weights).");
  opts.positional_help("[RUN_DIR]");
  opts.add_options()
      ("run", "run directory", cxxopts::value<std::string>())
      ("out", "output file (default RUN_DIR/analysis.json)", cxxopts::value<std::string>())
      ("weights", "analyse one matrix: N rows of N comma-separated values, row = postsynaptic", cxxopts::value<std::string>())
      ("coords", "N x 3 coordinates CSV for --weights (default: the 5x5x4 grid when N = 100)", cxxopts::value<std::string>())
      ("gamma-modularity", "resolution of the directed modularity", cxxopts::value<double>()->default_value("1.0"))
      ("strength", "communicability normalisation: in, out or auto (run: its config; matrix: in)",
       cxxopts::value<std::string>()->default_value("auto"))
      ("nulls", "random nulls for small_world.sigma", cxxopts::value<int64_t>()->default_value("10"))
      ("max-hops", "last epoch: longest pathway of the input -> output hop decomposition (-1 = skip)",
       cxxopts::value<int64_t>()->default_value("8"))
      ("dynamics-starts", "rate runs: initial states of the fixed-point search on the last epoch (0 = skip)",
       cxxopts::value<int64_t>()->default_value("64"))
      ("json", "print JSON to stdout (the default for --weights)")
      ("h,help", "show this help");
  opts.parse_positional({"run"});
  auto args = opts.parse(argc, argv);
  if (args.count("help")) {
    std::cout << opts.help() << "\nKeys and definitions: docs/analysis.md\n";
    return 0;
  }
  AnalysisOptions o;
  o.gamma_modularity = args["gamma-modularity"].as<double>();
  if (!std::isfinite(o.gamma_modularity) || o.gamma_modularity < 0)
    throw InputError(fmt::format("--gamma-modularity: {} must be a finite non-negative number", o.gamma_modularity));
  o.nulls = std::max<int64_t>(1, args["nulls"].as<int64_t>());
  const auto strength = args["strength"].as<std::string>();

  if (args.count("weights")) {
    if (args.count("run")) throw InputError("give either RUN_DIR or --weights, not both");
    const auto path = args["weights"].as<std::string>();
    const auto w = read_matrix_csv(path);
    if (w.size(0) != w.size(1))
      throw InputError(fmt::format("{}: weights must be square (N rows of N values), got {} x {}", path, w.size(0), w.size(1)));
    torch::Tensor coords;
    if (args.count("coords")) {
      coords = read_coords_csv(args["coords"].as<std::string>());
      if (coords.size(0) != w.size(0))
        throw InputError(fmt::format("{}: {} rows but the weights have N = {}", args["coords"].as<std::string>(),
                                     coords.size(0), w.size(0)));
    } else if (w.size(0) == 100) {
      coords = grid_coordinates({5, 5, 4});
    }
    o.strength = strength == "auto" ? Strength::In : parse_strength(strength);
    std::cout << analyze_matrix(w, coords, o).dump() << "\n";
    return 0;
  }
  if (!args.count("run")) throw InputError("missing RUN_DIR or --weights FILE (see sernn analyze --help)");
  const auto run = args["run"].as<std::string>();
  if (!file_exists(run + "/config.json")) throw InputError(fmt::format("{}: not a run directory (config.json missing)", run));
  o.strength = strength == "auto" ? config_strength(read_run_config(run)) : parse_strength(strength);
  const auto t0 = std::chrono::steady_clock::now();
  const auto result = analyze_run_with_dynamics(run, o, args["dynamics-starts"].as<int64_t>(),
                                                args["max-hops"].as<int64_t>());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto out = args.count("out") ? args["out"].as<std::string>() : run + "/analysis.json";
  atomic_write_text(out, result.dump() + "\n");
  if (args.count("json")) std::cout << result.dump() << "\n";
  else fmt::print("analysed {} snapshots in {:.2f}s -> {}\n", result.size(), secs, out);
  return 0;
}

int cmd_report(int argc, char** argv) {
  cxxopts::Options opts("sernn report", "Write a self-contained HTML report (inline SVG) for a run directory.");
  opts.positional_help("DIR");
  opts.add_options()
      ("dir", "run directory", cxxopts::value<std::string>())
      ("o,out", "output HTML file (default DIR/report.html)", cxxopts::value<std::string>())
      ("min-accuracy", "sweeps: leave out runs below this test accuracy (e.g. 0.9 rate, 0.45 spiking)",
       cxxopts::value<double>())
      ("filter", "sweeps: the reference's filter (0.9 for rate, 0.45 for spiking runs)")
      ("h,help", "show this help");
  opts.parse_positional({"dir"});
  auto args = opts.parse(argc, argv);
  if (args.count("help")) {
    std::cout << opts.help();
    return 0;
  }
  if (!args.count("dir")) throw InputError("missing DIR (see sernn report --help)");
  const auto dir = args["dir"].as<std::string>();
  if (file_exists(dir + "/results.csv") && !file_exists(dir + "/config.json")) {
    // A sweep directory.
    const auto rows = read_results(dir);
    double min_acc = -1;
    if (args.count("min-accuracy")) min_acc = args["min-accuracy"].as<double>();
    if (args.count("filter")) {
      const auto base = read_json(dir + "/base_config.json");
      min_acc = base["model"]["kind"] == "spiking" ? 0.45 : 0.9;
    }
    const auto out = args.count("out") ? args["out"].as<std::string>() : dir + "/report.html";
    atomic_write_text(out, sweep_report_html("sernn sweep " + dir, rows, min_acc));
    fmt::print("wrote {}\n", out);
    return 0;
  }
  if (!file_exists(dir + "/config.json"))
    throw InputError(fmt::format("{}: not a run directory (config.json missing) or sweep directory (results.csv missing)", dir));
  const auto config = read_json(dir + "/config.json");
  nlohmann::json analysis;
  if (file_exists(dir + "/analysis.json")) {
    analysis = read_json(dir + "/analysis.json");
  } else {
    AnalysisOptions o;
    o.strength = config_strength(read_run_config(dir));
    analysis = analyze_run_with_dynamics(dir, o, FixedPointOptions().initial_states, 8);
    atomic_write_text(dir + "/analysis.json", analysis.dump() + "\n");
  }
  if (!analysis.is_array() || analysis.empty()) throw InputError(fmt::format("{}/analysis.json: expected a non-empty list", dir));
  const auto out = args.count("out") ? args["out"].as<std::string>() : dir + "/report.html";
  atomic_write_text(out, run_report_html("sernn run " + dir, config, read_jsonl(dir + "/metrics.jsonl"), analysis, dir));
  fmt::print("wrote {}\n", out);
  return 0;
}

}  // namespace sernn
