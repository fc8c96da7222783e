
#include "app/cli.h"
#include <fmt/format.h>

#include "app/commands.h"
#include "core/errors.h"
#include "core/io.h"
#include "run/nir.h"
#include "tasks/fetch.h"
#include "tasks/shd.h"
#include "tasks/shd_memory.h"

namespace sernn {
namespace {

int synth(int argc, char** argv) {
  cxxopts::Options opts("sernn data synth-shd",
                        "Write a synthetic SHD data set (shd_train.h5, shd_test.h5) in the real layout.");
  opts.add_options()("out", "output directory", cxxopts::value<std::string>())(
      "task", "bands (drifting bands: solved without recurrence) or memory (the class from a cue and a later probe)",
      cxxopts::value<std::string>()->default_value("bands"))("train", "training samples",
                                                             cxxopts::value<int64_t>()->default_value("2048"))(
      "test", "test samples", cxxopts::value<int64_t>()->default_value("512"))(
      "seed", "random seed", cxxopts::value<uint64_t>()->default_value("1"))(
      "noise", "fraction of noise events (bands 0.2, memory 0.625)", cxxopts::value<double>())(
      "events", "mean events per sample (bands 300, memory 2400)", cxxopts::value<int64_t>())(
      "rule", "memory: class = (cue + probe band) mod 5 (sum) or the ordered pair (pairs)",
      cxxopts::value<std::string>()->default_value("sum"))("distractors", "memory: distractor bursts",
                                                           cxxopts::value<int64_t>()->default_value("0"))(
      "cue", "memory: cue onsets FROM,TO (fractions of the sample; 0.2,0.28)", cxxopts::value<std::string>())(
      "distractor", "memory: distractor onsets (0.38,0.46)", cxxopts::value<std::string>())(
      "probe", "memory: probe onsets (0.6,0.68)", cxxopts::value<std::string>())("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args, "\nThe tasks, their parameters and calibration: docs/tasks.md\n")) return 0;
  if (!args.count("out")) throw InputError("missing --out DIR");
  SynthShdRequest q;
  q.dir = args["out"].as<std::string>(), q.task = args["task"].as<std::string>();
  q.train = args["train"].as<int64_t>(), q.test = args["test"].as<int64_t>(), q.seed = args["seed"].as<uint64_t>();
  if (args.count("noise")) q.noise = args["noise"].as<double>();
  if (args.count("events")) q.events = args["events"].as<int64_t>();
  q.distractors = args["distractors"].as<int64_t>(), q.rule = args["rule"].as<std::string>();
  for (auto [name, field] : {std::pair{"cue", &q.cue}, {"distractor", &q.distractor}, {"probe", &q.probe}})
    if (args.count(name)) *field = args[name].as<std::string>();
  write_synth(q);
  fmt::print("wrote {0}/shd_train.h5 ({1} samples) and {0}/shd_test.h5 ({2} samples), task {3}\n", q.dir, q.train,
             q.test, q.task);
  return 0;
}

int fetch(int argc, char** argv) {
  cxxopts::Options opts("sernn data fetch-shd", "Download, verify (MD5) and unpack shd_train.h5 and shd_test.h5.");
  opts.add_options()("dir", "destination directory", cxxopts::value<std::string>())(
      "base-url", "dataset site", cxxopts::value<std::string>()->default_value(kShdBaseUrl))("h,help",
                                                                                             "show this help");
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args)) return 0;
  if (!args.count("dir")) throw InputError("missing --dir DIR");
  fetch_shd(args["dir"].as<std::string>(), args["base-url"].as<std::string>(),
            [](const std::string& line) { fmt::print("{}\n", line); });
  return 0;
}

int import_nir_file(int argc, char** argv) {
  cxxopts::Options opts("sernn data import-nir",
                        "Make a run directory at epoch 0 from a NIR graph of a recurrent LIF network (written by "
                        "`sernn export --format nir` or by snnTorch's export_to_nir of an RLeaky).");
  opts.positional_help("FILE");
  opts.add_options()("file", "the NIR file", cxxopts::value<std::string>())("out", "the run directory to create",
                                                                            cxxopts::value<std::string>())(
      "coords", "neuron coordinates (CSV, N rows x, y, z) when the file's metadata has none",
      cxxopts::value<std::string>()->default_value(""))("h,help", "show this help");
  opts.parse_positional({"file"});
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args, "\nThen: sernn analyze, report, train --resume RUN (docs/nir.md).\n")) return 0;
  if (!args.count("file")) throw InputError("missing FILE (see sernn data import-nir --help)");
  if (!args.count("out")) throw InputError("missing --out RUN_DIR");
  const auto out = args["out"].as<std::string>();
  import_nir(args["file"].as<std::string>(), out, args["coords"].as<std::string>());
  fmt::print("wrote {} (epoch 0, from {})\n", out, args["file"].as<std::string>());
  return 0;
}

}  // namespace

int cmd_data(int argc, char** argv) {
  static const std::vector<Command> data_commands{
      {"synth-shd", "write a synthetic SHD data set in the real HDF5 layout", synth},
      {"fetch-shd", "download and verify the real SHD files", fetch},
      {"import-nir", "a run directory at epoch 0 from a NIR graph (sernn's or snnTorch's RLeaky)", import_nir_file}};
  return run_subcommand(argc, argv, data_commands, "data command");
}

}  // namespace sernn
