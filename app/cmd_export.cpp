
#include "app/cli.h"
#include <fmt/format.h>

#include "app/commands.h"
#include "run/nir.h"
#include "core/errors.h"

namespace sernn {

int cmd_export(int argc, char** argv) {
  cxxopts::Options opts("sernn export",
                        "Export a trained run as TorchScript or NIR (verified by loading it back, in float64).");
  opts.positional_help("RUN_DIR");
  opts.add_options()("run", "run directory", cxxopts::value<std::string>())(
      "o,out", "output file (model.pt)", cxxopts::value<std::string>())("epoch", "epoch to export (default: the last)",
                                                                        cxxopts::value<int64_t>()->default_value("-1"))(
      "format", "torchscript or nir (spiking runs: the Neuromorphic Intermediate Representation, HDF5)",
      cxxopts::value<std::string>()->default_value("torchscript"))(
      "nir-readout",
      "nir: the readout as li (NIR's leaky integrator) or lif (a LIF that never fires, for snnTorch's import_from_nir)",
      cxxopts::value<std::string>()->default_value("li"))("h,help", "show this help");
  opts.parse_positional({"run"});
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args, "\nThe formats, what they hold and how they are verified: docs/nir.md\n")) return 0;
  if (!args.count("run")) throw InputError("missing RUN_DIR (see sernn export --help)");
  if (!args.count("out")) throw InputError("missing --out FILE");
  const auto out = args["out"].as<std::string>();
  const double diff = export_run_as(args["format"].as<std::string>(), args["run"].as<std::string>(), out,
                                    args["epoch"].as<int64_t>(), args["nir-readout"].as<std::string>());
  fmt::print("wrote {} (verified in float64: max |difference| to the engine {:.3g})\n", out, diff);
  return 0;
}

}  // namespace sernn
