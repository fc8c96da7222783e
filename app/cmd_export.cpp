#include <iostream>

#include "app/cli.h"
#include <fmt/format.h>

#include "app/commands.h"
#include "run/export.h"
#include "core/errors.h"

namespace sernn {

int cmd_export(int argc, char** argv) {
  cxxopts::Options opts("sernn export", "Export a trained run as TorchScript (verified by loading it back).");
  opts.positional_help("RUN_DIR");
  opts.add_options()("run", "run directory", cxxopts::value<std::string>())("o,out", "output file (model.pt)",
                                                                            cxxopts::value<std::string>())(
      "epoch", "epoch to export (default: the last)", cxxopts::value<int64_t>()->default_value("-1"))("h,help",
                                                                                                      "show this help");
  opts.parse_positional({"run"});
  auto args = opts.parse(argc, argv);
  if (args.count("help")) {
    std::cout << opts.help()
              << "\nforward(x [T, B, inputs]) returns (spikes [T,B,N], readout_mem [T,B,20]) for spiking runs and\n"
                 "(hidden [T,B,N], logits [B,classes]) for rate runs; attributes config_json and coords.\n";
    return 0;
  }
  if (!args.count("run")) throw InputError("missing RUN_DIR (see sernn export --help)");
  if (!args.count("out")) throw InputError("missing --out FILE");
  const auto out = args["out"].as<std::string>();
  const double diff = export_run(args["run"].as<std::string>(), out, args["epoch"].as<int64_t>());
  fmt::print("wrote {} (verified in float64: max |difference| to the engine {:.3g})\n", out, diff);
  return 0;
}

}  // namespace sernn
