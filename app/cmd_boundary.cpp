// `sernn boundary`: the latent-boundary picture of a rank-1 inhibitory spiking population
// (seed 002, Fig. 2), simulated with sernn's spiking model.
#include <iostream>

#include "app/cli.h"
#include <fmt/format.h>

#include "analysis/svg.h"
#include "app/commands.h"
#include "core/errors.h"
#include "core/io.h"
#include "models/low_rank.h"

namespace sernn {
namespace {

std::vector<double> values(const torch::Tensor& t) {
  const auto c = t.contiguous().to(torch::kFloat64);
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

int cmd_boundary(int argc, char** argv) {
  cxxopts::Options opts("sernn boundary",
                        "Rank-1 inhibitory spiking population whose thresholds tile the boundary y = -x^2 - 1/2 "
                        "(seed 002): writes OUT/boundary.csv and OUT/boundary.html.");
  BoundaryDemoOptions d;
  opts.add_options()
      ("out", "output directory", cxxopts::value<std::string>())
      ("neurons", "neurons (tangent lines)", cxxopts::value<int64_t>()->default_value(std::to_string(d.neurons)))
      ("steps", "steps of the input ramp from -1 to 1", cxxopts::value<int64_t>()->default_value(std::to_string(d.steps)))
      ("warmup", "steps at x = -1 before the ramp", cxxopts::value<int64_t>()->default_value(std::to_string(d.warmup)))
      ("beta", "membrane and readout leak", cxxopts::value<double>()->default_value("0.99"))
      ("decoder", "|D|: jump of the latent y per spike (the precision)", cxxopts::value<double>()->default_value("0.05"))
      ("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (args.count("help")) {
    std::cout << opts.help();
    return 0;
  }
  if (!args.count("out")) throw InputError("missing --out DIR (see sernn boundary --help)");
  d.neurons = args["neurons"].as<int64_t>();
  d.steps = args["steps"].as<int64_t>();
  d.warmup = args["warmup"].as<int64_t>();
  d.beta = args["beta"].as<double>();
  d.decoder = args["decoder"].as<double>();
  if (d.steps < 2 || d.warmup < 0) throw InputError("--steps must be at least 2 and --warmup non-negative");
  const auto r = run_boundary_demo(d);
  const auto out = args["out"].as<std::string>();
  make_dirs(out);

  const auto spiking = std::get<1>(r.spikes.max(1));  // index of a spiking neuron (or 0)
  const auto any = r.spikes.sum(1);
  std::string csv = "t,x,x_filtered,y,boundary,target,spikes,neuron\n";
  auto x = values(r.x), xf = values(r.x_filtered), y = values(r.y), b = values(r.boundary), tg = values(r.target),
       n = values(any);
  for (size_t t = 0; t < x.size(); ++t)
    csv += fmt::format("{},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{},{}\n", t, x[t], xf[t], y[t], b[t], tg[t],
                       static_cast<int64_t>(n[t]), n[t] > 0 ? std::to_string(spiking[t].item<int64_t>()) : "");
  atomic_write_text(out + "/boundary.csv", csv);

  // The picture: y against x̄ after the warm-up, with the boundary and the target curve.
  const auto ramp = [&](const std::vector<double>& v) { return std::vector<double>(v.begin() + d.warmup, v.end()); };
  const auto chart = svg::line_chart("Latent readout y of a rank-1 inhibitory population", "filtered input x̄", "y",
                                     {{"y (spiking network)", ramp(xf), ramp(y), ""},
                                      {"boundary (threshold lines)", ramp(xf), ramp(b), ""},
                                      {"-x̄² - 1/2", ramp(xf), ramp(tg), ""}},
                                     720, 420);
  const int64_t spikes = r.spikes.sum().item<int64_t>();
  std::string html = "<!doctype html><meta charset=\"utf-8\"><title>sernn boundary</title><body style=\"font-family:sans-serif\">"
                     "<h1>Latent boundary of a rank-1 inhibitory spiking population</h1>";
  html += fmt::format("<p>{} neurons, β = {}, |D| = {}, {} spikes over {} steps. Each neuron fires where its threshold "
                      "line is the lowest; spikes push y down, the leak pulls it up, so y follows the boundary.</p>",
                      d.neurons, d.beta, d.decoder, spikes, x.size());
  html += chart + "</body>\n";
  atomic_write_text(out + "/boundary.html", html);
  fmt::print("wrote {}/boundary.csv and {}/boundary.html ({} spikes)\n", out, out, spikes);
  return 0;
}

}  // namespace sernn
