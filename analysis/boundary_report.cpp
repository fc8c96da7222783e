#include "analysis/boundary_report.h"

#include <fmt/format.h>

#include "analysis/svg.h"

namespace sernn {
namespace {

std::vector<double> values(const torch::Tensor& t) {
  const auto c = t.contiguous().to(torch::kFloat64);
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

/// The input, filtered input, latent and target of a demo, and the part of any series after
/// the warm-up (what the charts show).
struct Series {
  std::vector<double> x, xf, y, tg;
  int64_t warmup = 0;
  std::vector<double> ramp(const std::vector<double>& v) const { return {v.begin() + warmup, v.end()}; }
};

/// The table, the charts and the caption of one demo.
struct Parts {
  std::string csv, chart, what;
};

/// Rank-2 E/I network (Figs. 4-5): both latents against their boundaries.
Parts ei_parts(const BoundaryDemoOptions& d, const BoundaryDemo& r, const Series& s, int64_t spikes) {
  const auto &x = s.x, &xf = s.xf, &y = s.y, &tg = s.tg;
  const auto ramp = [&](const std::vector<double>& v) { return s.ramp(v); };
  Parts p;
  auto& [csv, chart, what] = p;
  const auto yi = values(r.y_i), ti = values(r.target_i);
  const auto se = values(r.spikes.slice(1, 0, d.neurons).sum(1)), si = values(r.spikes.slice(1, d.neurons).sum(1));
  csv = "t,x,x_filtered,y_e,y_i,target_e,target_i,spikes_e,spikes_i\n";
  for (size_t t = 0; t < x.size(); ++t)
    csv += fmt::format("{},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{:.8g},{},{}\n", t, x[t], xf[t], y[t], yi[t], tg[t],
                       ti[t], static_cast<int64_t>(se[t]), static_cast<int64_t>(si[t]));
  chart =
      svg::line_chart("Excitatory latent y_E against g(x̄) = 0.6 + 0.2 sin 3x̄", "filtered input x̄", "y_E",
                      {{"y_E (network)", ramp(xf), ramp(y), ""}, {"g(x̄)", ramp(xf), ramp(tg), ""}}, 720, 420) +
      svg::line_chart("Inhibitory latent y_I", "filtered input x̄", "y_I",
                      {{"y_I (network)", ramp(xf), ramp(yi), ""}, {"-x̄² - 2 g(x̄)", ramp(xf), ramp(ti), ""}}, 720, 420);
  what = fmt::format(
      "{0} excitatory and {0} inhibitory neurons (rank 2, one latent per population), β = {1}, "
      "|D_E| = {2}, |D_I| = {3}, {4} spikes over {5} steps. The inhibitory thresholds form a stable "
      "boundary y_I = -x² - 2 y_E, the excitatory ones an unstable boundary y_E = -q(x) - y_I; the latents "
      "settle where the two cross, y_E = g(x): a non-monotonic function as a difference of convex ones.",
      d.neurons, d.beta, d.decoder, 3 * d.decoder, spikes, x.size());
  return p;
}

/// Rank-1 inhibitory population (Fig. 2): y against the boundary of its threshold lines.
Parts inhibitory_parts(const BoundaryDemoOptions& d, const BoundaryDemo& r, const Series& s, int64_t spikes) {
  const auto &x = s.x, &xf = s.xf, &y = s.y, &tg = s.tg;
  const auto ramp = [&](const std::vector<double>& v) { return s.ramp(v); };
  Parts p;
  auto& [csv, chart, what] = p;
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
  what = fmt::format(
      "{} neurons, β = {}, |D| = {}, {} spikes over {} steps. Each neuron fires where its threshold "
      "line is the lowest; spikes push y down, the leak pulls it up, so y follows the boundary.",
      d.neurons, d.beta, d.decoder, spikes, x.size());
  return p;
}

}  // namespace

BoundaryFiles boundary_report(const BoundaryDemoOptions& d, const BoundaryDemo& r) {
  const bool ei = d.network == "ei";
  BoundaryFiles f;
  f.spikes = r.spikes.sum().item<int64_t>();
  const Series s{values(r.x), values(r.x_filtered), values(r.y), values(r.target), d.warmup};
  const auto p = ei ? ei_parts(d, r, s, f.spikes) : inhibitory_parts(d, r, s, f.spikes);
  f.csv = p.csv;
  f.html =
      "<!doctype html><meta charset=\"utf-8\"><title>sernn boundary</title><body style=\"font-family:sans-serif\">";
  f.html += ei ? "<h1>Crossing boundaries of a rank-2 E/I spiking network</h1>"
               : "<h1>Latent boundary of a rank-1 inhibitory spiking population</h1>";
  f.html += "<p>" + svg::escape(p.what) + "</p>" + p.chart + "</body>\n";
  return f;
}

}  // namespace sernn
