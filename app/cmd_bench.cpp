#include <algorithm>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/cli.h"
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/commands.h"
#include "run/setup.h"
#include "bench/bench_options.h"
#include "bench/regularizer_bench.h"
#include "bench/train_bench.h"
#include "core/errors.h"
#include "regularizers/penalties.h"

namespace sernn {
namespace {

void finish(const BenchReport& report, const cxxopts::ParseResult& args) {
  std::cout << "\n" << report.table();
  if (args.count("json")) {
    report.write(args["json"].as<std::string>());
    fmt::print("wrote {}\n", args["json"].as<std::string>());
  }
}

int bench_regularizer(int argc, char** argv) {
  cxxopts::Options opts("sernn bench regularizer",
                        "Time the penalties (forward, forward+backward) against autograd through matrix_exp.");
  opts.add_options()("n", "neurons per network, comma-separated",
                     cxxopts::value<std::string>()->default_value("100,256,1024"))(
      "k", "networks per batch, comma-separated", cxxopts::value<std::string>()->default_value("1,64"))(
      "penalties", "penalties to time", cxxopts::value<std::string>()->default_value("comm,sernn"))(
      "device", "cpu or cuda", cxxopts::value<std::string>()->default_value("cpu"))(
      "dtype", "float32 or float64", cxxopts::value<std::string>()->default_value("float32"))(
      "threads", "CPU threads (0 = auto, as train.threads)", cxxopts::value<int64_t>()->default_value("0"))(
      "repeats", "timed repetitions per case (median reported)", cxxopts::value<int>()->default_value("5"))(
      "max-matmul-gflop", "skip cases whose single matrix product exceeds this many GFLOP",
      cxxopts::value<double>()->default_value("20"))("json", "write the results as JSON to this file",
                                                     cxxopts::value<std::string>())("h,help", "show this help");
  // cxxopts treats one-letter names as short options; accept the documented --n / --k too.
  std::vector<std::string> words(argv, argv + argc);
  for (auto& w : words)
    for (const char* flag : {"--n", "--k"})
      if (w == flag || w.rfind(std::string(flag) + "=", 0) == 0) w = w.substr(1);
  std::vector<char*> fixed;
  for (auto& w : words) fixed.push_back(w.data());
  auto args = opts.parse(static_cast<int>(fixed.size()), fixed.data());
  if (printed_help(opts, args)) return 0;
  RegularizerBenchOptions o;
  o.n = parse_int_list(args["n"].as<std::string>(), "--n");
  o.k = parse_int_list(args["k"].as<std::string>(), "--k");
  o.penalties.clear();
  std::stringstream ss(args["penalties"].as<std::string>());
  for (std::string p; std::getline(ss, p, ',');) {
    const auto& known = wiring_penalty_names();
    if (std::find(known.begin(), known.end(), p) == known.end())
      throw InputError(fmt::format("--penalties: unknown penalty '{}' (known: {})", p, fmt::join(known, ", ")));
    o.penalties.push_back(p);
  }
  o.device = parse_device(args["device"].as<std::string>(), "--device");
  o.dtype = parse_dtype(args["dtype"].as<std::string>());
  o.repeats = std::max(1, args["repeats"].as<int>());
  o.max_matmul_gflop = args["max-matmul-gflop"].as<double>();
  BenchReport report(
      o.device,
      configure_threads(args["threads"].as<int64_t>(), 128, *std::max_element(o.n.begin(), o.n.end())).threads);
  run_regularizer_bench(o, report);
  finish(report, args);
  return 0;
}

int bench_train(int argc, char** argv) {
  cxxopts::Options opts("sernn bench train",
                        "Time one training step (forward + backward + Adam) per case; see bench/README.md.");
  opts.add_options()("model", "shd (spiking 700 -> N -> 20) or rate (8 -> N -> 4)",
                     cxxopts::value<std::string>()->default_value("shd"))(
      "hidden", "hidden sizes, comma-separated", cxxopts::value<std::string>()->default_value("100,1024"))(
      "batch", "batch size", cxxopts::value<int64_t>()->default_value("128"))(
      "steps", "time steps T, comma-separated", cxxopts::value<std::string>()->default_value("200,1000"))(
      "impl", "implementations: fast, reference", cxxopts::value<std::string>()->default_value("fast,reference"))(
      "device", "cpu or cuda", cxxopts::value<std::string>()->default_value("cpu"))(
      "threads", "CPU threads (0 = auto, as train.threads)", cxxopts::value<int64_t>()->default_value("0"))(
      "repeats", "timed steps per case (median reported)", cxxopts::value<int>()->default_value("3"))(
      "load", "also time each case beside K busy threads of the benchmark's own (a shared machine)",
      cxxopts::value<int64_t>()->default_value("0"))("json", "write the results as JSON to this file",
                                                     cxxopts::value<std::string>())("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args)) return 0;
  TrainBenchOptions o;
  o.model = parse_word_list(args["model"].as<std::string>(), "--model", {"shd", "rate"}).at(0);
  o.hidden = parse_int_list(args["hidden"].as<std::string>(), "--hidden");
  o.steps = parse_int_list(args["steps"].as<std::string>(), "--steps");
  o.impls = parse_word_list(args["impl"].as<std::string>(), "--impl", {"fast", "reference"});
  o.batch = args["batch"].as<int64_t>();
  if (o.batch < 1) throw InputError("--batch must be at least 1");
  o.device = parse_device(args["device"].as<std::string>(), "--device");
  o.repeats = std::max(1, args["repeats"].as<int>());
  o.load = args["load"].as<int64_t>();
  if (o.load < 0 || o.load > 1024) throw InputError(fmt::format("--load: {} busy threads (0 to 1024)", o.load));
  BenchReport report(o.device, configure_threads(args["threads"].as<int64_t>(), o.batch,
                                                 *std::max_element(o.hidden.begin(), o.hidden.end()))
                                   .threads);
  run_train_bench(o, report);
  finish(report, args);
  return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  static const std::vector<Command> benchmarks{
      {"regularizer", "penalties vs autograd through matrix_exp", bench_regularizer},
      {"train", "training-step throughput, memory and GEMM efficiency", bench_train}};
  return run_subcommand(argc, argv, benchmarks, "benchmark");
}

}  // namespace sernn
