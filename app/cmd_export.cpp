#include <iostream>

#include "app/cli.h"
#include <fmt/format.h>

#include "app/commands.h"
#include "run/export.h"
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
      cxxopts::value<std::string>()->default_value("torchscript"))("h,help", "show this help");
  opts.parse_positional({"run"});
  auto args = opts.parse(argc, argv);
  if (args.count("help")) {
    std::cout
        << opts.help()
        << "\nTorchScript: forward(x [T, B, inputs]) returns (spikes [T,B,N], readout_mem [T,B,20]) for spiking\n"
           "runs and (hidden [T,B,N], logits [B,classes]) for rate runs; attributes config_json and coords.\n"
           "NIR (spiking runs): Input -> Affine -> recurrent LIF subgraph (snnTorch's RLeaky layout) -> Affine ->\n"
           "LI -> Output, dt = 1e-4 s, coordinates and config as metadata (docs/nir.md). A file that does not\n"
           "verify is removed.\n";
    return 0;
  }
  if (!args.count("run")) throw InputError("missing RUN_DIR (see sernn export --help)");
  if (!args.count("out")) throw InputError("missing --out FILE");
  const auto out = args["out"].as<std::string>();
  const auto format = args["format"].as<std::string>();
  if (format != "torchscript" && format != "nir")
    throw InputError(fmt::format("--format {}: torchscript or nir", format));
  const auto run = args["run"].as<std::string>();
  const auto epoch = args["epoch"].as<int64_t>();
  const double diff = format == "nir" ? export_run_nir(run, out, epoch) : export_run(run, out, epoch);
  fmt::print("wrote {} (verified in float64: max |difference| to the engine {:.3g})\n", out, diff);
  return 0;
}

}  // namespace sernn
