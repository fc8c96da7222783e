// `sernn boundary`: the latent-boundary pictures of low-rank spiking populations (seed 002):
// a rank-1 inhibitory population (Fig. 2) and a rank-2 E/I network computing a non-monotonic
// function at the crossing of its two boundaries (Figs. 4-5), simulated with sernn's spiking model.

#include "app/cli.h"
#include <fmt/format.h>

#include "analysis/boundary_report.h"
#include "app/commands.h"
#include "core/errors.h"
#include "core/io.h"

namespace sernn {
int cmd_boundary(int argc, char** argv) {
  cxxopts::Options opts(
      "sernn boundary",
      "Latent boundaries of low-rank spiking populations (seed 002). --network inhibitory: a rank-1 "
      "inhibitory population whose thresholds tile y = -x^2 - 1/2; --network ei: a rank-2 E/I network "
      "whose excitatory latent settles on g(x) = 0.6 + 0.2 sin(3x) where its two boundaries cross. "
      "Writes OUT/boundary.csv and OUT/boundary.html.");
  BoundaryDemoOptions d;
  opts.add_options()("out", "output directory", cxxopts::value<std::string>())(
      "network", "inhibitory (rank 1) or ei (rank 2)", cxxopts::value<std::string>()->default_value("inhibitory"))(
      "neurons", "neurons per population (tangent lines/planes)",
      cxxopts::value<int64_t>()->default_value(std::to_string(d.neurons)))(
      "steps", "steps of the input ramp from -1 to 1 (default 6000; ei: 20000)", cxxopts::value<int64_t>())(
      "warmup", "steps at x = -1 before the ramp (default 1000; ei: 2000)", cxxopts::value<int64_t>())(
      "beta", "membrane and readout leak", cxxopts::value<double>()->default_value("0.99"))(
      "decoder", "|D|: jump of the latent per spike, the precision (default 0.05; ei: 0.01 excitatory, 3x inhibitory)",
      cxxopts::value<double>())("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (printed_help(opts, args)) return 0;
  if (!args.count("out")) throw InputError("missing --out DIR (see sernn boundary --help)");
  d.network = args["network"].as<std::string>();
  const bool ei = d.network == "ei";
  d.neurons = args["neurons"].as<int64_t>();
  d.steps = args.count("steps") ? args["steps"].as<int64_t>() : (ei ? 20000 : 6000);
  d.warmup = args.count("warmup") ? args["warmup"].as<int64_t>() : (ei ? 2000 : 1000);
  d.beta = args["beta"].as<double>();
  d.decoder = args.count("decoder") ? args["decoder"].as<double>() : (ei ? 0.01 : 0.05);
  if (d.steps < 2 || d.warmup < 0) throw InputError("--steps must be at least 2 and --warmup non-negative");
  const auto r = run_boundary_demo(d);
  const auto out = args["out"].as<std::string>();
  make_dirs(out);

  const auto files = boundary_report(d, r);
  atomic_write_text(out + "/boundary.csv", files.csv);
  atomic_write_text(out + "/boundary.html", files.html);
  fmt::print("wrote {}/boundary.csv and {}/boundary.html ({} spikes)\n", out, out, files.spikes);
  return 0;
}

}  // namespace sernn
