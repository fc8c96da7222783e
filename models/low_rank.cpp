#include "models/low_rank.h"

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {
namespace {

/// Tangent points x_i, slopes F_i and thresholds T_i of the lines y = -2 x_i x + x_i^2 - 1/2,
/// i.e. V_i = F_i x + y >= T_i with F_i = 2 x_i, T_i = x_i^2 - 1/2 (E_i = 1).
struct Lines {
  torch::Tensor f, t;
};
Lines tangent_lines(const BoundaryDemoOptions& o) {
  const auto xi = torch::linspace(o.x_min, o.x_max, o.neurons, torch::kFloat64);
  return {2.0 * xi, xi * xi - 0.5};
}

}  // namespace

SpikingRNN make_boundary_population(const BoundaryDemoOptions& o) {
  if (o.neurons < 2) throw InputError(fmt::format("--neurons: need at least 2, got {}", o.neurons));
  if (!(o.beta > 0 && o.beta < 1)) throw InputError(fmt::format("--beta: must lie in (0, 1), got {}", o.beta));
  if (!(o.decoder > 0)) throw InputError(fmt::format("--decoder: must be positive, got {}", o.decoder));
  SpikingRNNOptions so(1, o.neurons, 1);
  // The plain per-step loop in float64: the check against the threshold lines is exact.
  so.rank(1).reset(ResetMode::None).threshold(1.0).learn_beta(false).beta_clip(false).readout_beta(o.beta).reference(true);
  SpikingRNN net(so);
  net->to(torch::kFloat64);
  const auto lines = tangent_lines(o);
  torch::NoGradGuard no_grad;
  // Constant input c_i = thr - T_i, so V_i >= thr  <=>  F_i x̄ + y >= T_i. Inputs enter the
  // membrane unscaled (snnTorch), so (1 - β) makes the membrane a unit-gain filter of them.
  net->input->weight.copy_((1.0 - o.beta) * lines.f.unsqueeze(1));
  net->input->bias.copy_((1.0 - o.beta) * (1.0 - lines.t));
  net->recurrent->bias.zero_();
  net->beta.fill_(o.beta);
  net->readout_beta.fill_(o.beta);  // again in float64: the float32 buffer rounded β
  net->rank_left.fill_(1.0);           // E_i = 1
  net->rank_right.fill_(-o.decoder);   // D_j < 0: inhibitory
  net->readout->weight.fill_(-o.decoder);
  net->readout->bias.zero_();
  return net;
}

BoundaryDemo run_boundary_demo(const BoundaryDemoOptions& o) {
  auto net = make_boundary_population(o);
  torch::NoGradGuard no_grad;
  const int64_t T = o.warmup + o.steps;
  auto x = torch::full({T}, o.x_min, torch::kFloat64);
  x.slice(0, o.warmup).copy_(torch::linspace(o.x_min, o.x_max, o.steps, torch::kFloat64));
  const auto trace = net->simulate(x.view({T, 1, 1}));
  BoundaryDemo d;
  d.x = x;
  d.spikes = trace.spikes.view({T, o.neurons});
  d.y = trace.readout_mem.view({T});
  // x̄ and the bias transient, filtered exactly as the membrane filters them.
  const auto lines = tangent_lines(o);
  auto xf = torch::zeros({T}, torch::kFloat64);
  auto bias_gain = torch::zeros({T}, torch::kFloat64);  // 1 - β^(t+1)
  double xbar = 0, gain = 0;
  auto xa = x.accessor<double, 1>();
  for (int64_t t = 0; t < T; ++t) {
    xbar = o.beta * xbar + (1.0 - o.beta) * xa[t];
    gain = o.beta * gain + (1.0 - o.beta);
    xf[t] = xbar;
    bias_gain[t] = gain;
  }
  d.x_filtered = xf;
  // V_i = F_i x̄ + g (thr - T_i) + y >= thr  <=>  y >= thr (1 - g) + g T_i - F_i x̄.
  const auto g = bias_gain.unsqueeze(1);
  const auto lines_at_t = (1.0 - g) + g * lines.t.unsqueeze(0) - xf.unsqueeze(1) * lines.f.unsqueeze(0);  // [T, N]
  d.boundary = std::get<0>(lines_at_t.min(1));
  d.target = -xf * xf - 0.5;
  return d;
}

}  // namespace sernn
