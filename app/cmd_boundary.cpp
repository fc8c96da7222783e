// `sernn boundary`: the latent-boundary pictures of low-rank spiking populations (seed 002):
// a rank-1 inhibitory population (Fig. 2) and a rank-2 E/I network computing a non-monotonic
// function at the crossing of its two boundaries (Figs. 4-5), simulated with sernn's spiking model.
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
                        "Latent boundaries of low-rank spiking populations (seed 002). --network inhibitory: a rank-1 "
                        "inhibitory population whose thresholds tile y = -x^2 - 1/2; --network ei: a rank-2 E/I network "
                        "whose excitatory latent settles on g(x) = 0.6 + 0.2 sin(3x) where its two boundaries cross. "
                        "Writes OUT/boundary.csv and OUT/boundary.html.");
  BoundaryDemoOptions d;
  opts.add_options()
      ("out", "output directory", cxxopts::value<std::string>())
      ("network", "inhibitory (rank 1) or ei (rank 2)", cxxopts::value<std::string>()->default_value("inhibitory"))
      ("neurons", "neurons per population (tangent lines/planes)", cxxopts::value<int64_t>()->default_value(std::to_string(d.neurons)))
      ("steps", "steps of the input ramp from -1 to 1 (default 6000; ei: 20000)", cxxopts::value<int64_t>())
      ("warmup", "steps at x = -1 before the ramp (default 1000; ei: 2000)", cxxopts::value<int64_t>())
      ("beta", "membrane and readout leak", cxxopts::value<double>()->default_value("0.99"))
      ("decoder", "|D|: jump of the latent per spike, the precision (default 0.05; ei: 0.01 excitatory, 3x inhibitory)",
       cxxopts::value<double>())
      ("h,help", "show this help");
  auto args = opts.parse(argc, argv);
  if (args.count("help")) {
    std::cout << opts.help();
    return 0;
  }
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

  auto x = values(r.x), xf = values(r.x_filtered), y = values(r.y), tg = values(r.target);
  const auto ramp = [&](const std::vector<double>& v) { return std::vector<double>(v.begin() + d.warmup, v.end()); };
  const int64_t spikes = r.spikes.sum().item<int64_t>();
  std::string csv, chart, what;
  if (ei) {
    const auto yi = values(r.y_i), ti = values(r.target_i);
    const auto se = values(r.spikes.slice(1, 0, d.neurons).sum(1)), si = values(r.spikes.slice(1, d.neurons).sum(1));
    csv = "t,x,x_filtered,y_e,y_i,target_e,target_i,spikes_e,spikes_i\n";
    for (size_t t = 0; t < x.size(); ++t)
      csv += fmt::format("{},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{},{}\n", t, x[t], xf[t], y[t], yi[t], tg[t], ti[t],
                         static_cast<int64_t>(se[t]), static_cast<int64_t>(si[t]));
    chart = svg::line_chart("Excitatory latent y_E against g(x̄) = 0.6 + 0.2 sin 3x̄", "filtered input x̄", "y_E",
                            {{"y_E (network)", ramp(xf), ramp(y), ""}, {"g(x̄)", ramp(xf), ramp(tg), ""}},
                            720, 420) +
            svg::line_chart("Inhibitory latent y_I", "filtered input x̄", "y_I",
                            {{"y_I (network)", ramp(xf), ramp(yi), ""}, {"-x̄² - 2 g(x̄)", ramp(xf), ramp(ti), ""}}, 720,
                            420);
    what = fmt::format("{0} excitatory and {0} inhibitory neurons (rank 2, one latent per population), β = {1}, "
                       "|D_E| = {2}, |D_I| = {3}, {4} spikes over {5} steps. The inhibitory thresholds form a stable "
                       "boundary y_I = -x² - 2 y_E, the excitatory ones an unstable boundary y_E = -q(x) - y_I; the latents "
                       "settle where the two cross, y_E = g(x): a non-monotonic function as a difference of convex ones.",
                       d.neurons, d.beta, d.decoder, 3 * d.decoder, spikes, x.size());
  } else {
    const auto b = values(r.boundary), n = values(r.spikes.sum(1));
    const auto spiking = std::get<1>(r.spikes.max(1));  // index of a spiking neuron (or 0)
    csv = "t,x,x_filtered,y,boundary,target,spikes,neuron\n";
    for (size_t t = 0; t < x.size(); ++t)
      csv += fmt::format("{},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{},{}\n", t, x[t], xf[t], y[t], b[t], tg[t],
                         static_cast<int64_t>(n[t]), n[t] > 0 ? std::to_string(spiking[t].item<int64_t>()) : "");
    // The picture: y against x̄ after the warm-up, with the boundary and the target curve.
    chart = svg::line_chart("Latent readout y of a rank-1 inhibitory population", "filtered input x̄", "y",
                            {{"y (spiking network)", ramp(xf), ramp(y), ""},
                             {"boundary (threshold lines)", ramp(xf), ramp(b), ""},
                             {"-x̄² - 1/2", ramp(xf), ramp(tg), ""}},
                            720, 420);
    what = fmt::format("{} neurons, β = {}, |D| = {}, {} spikes over {} steps. Each neuron fires where its threshold "
                       "line is the lowest; spikes push y down, the leak pulls it up, so y follows the boundary.",
                       d.neurons, d.beta, d.decoder, spikes, x.size());
  }
  atomic_write_text(out + "/boundary.csv", csv);
  std::string html = "<!doctype html><meta charset=\"utf-8\"><title>sernn boundary</title><body style=\"font-family:sans-serif\">";
  html += ei ? "<h1>Crossing boundaries of a rank-2 E/I spiking network</h1>"
             : "<h1>Latent boundary of a rank-1 inhibitory spiking population</h1>";
  html += "<p>" + svg::escape(what) + "</p>" + chart + "</body>\n";
  atomic_write_text(out + "/boundary.html", html);
  fmt::print("wrote {}/boundary.csv and {}/boundary.html ({} spikes)\n", out, out, spikes);
  return 0;
}

}  // namespace sernn
