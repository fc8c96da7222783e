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

// The E/I example: stable I boundary y_I = -p(x) - a y_E, unstable E boundary y_E = -q(x) - y_I.
constexpr double kEiSlope = 2.0;  // a
torch::Tensor ei_p(const torch::Tensor& x) { return x * x; }
torch::Tensor ei_dp(const torch::Tensor& x) { return 2.0 * x; }
torch::Tensor ei_g(const torch::Tensor& x) { return 0.6 + 0.2 * torch::sin(3.0 * x); }
torch::Tensor ei_dg(const torch::Tensor& x) { return 0.6 * torch::cos(3.0 * x); }
torch::Tensor ei_q(const torch::Tensor& x) { return ei_p(x) + (kEiSlope - 1.0) * ei_g(x); }
torch::Tensor ei_dq(const torch::Tensor& x) { return ei_dp(x) + (kEiSlope - 1.0) * ei_dg(x); }

/// A float64 SpikingRNN for hand-tuned demos: plain per-step loop (the threshold checks are
/// exact), no reset (the self-connections reset), fixed β for membranes and readouts.
SpikingRNN demo_network(int64_t neurons, int64_t outputs, int64_t rank, bool ei, double beta) {
  SpikingRNNOptions so(1, neurons, outputs);
  DaleOptions dale;
  dale.enabled = ei;
  dale.exc_fraction = 0.5;
  so.rank(rank)
      .dale(dale)
      .population_latents(ei)
      .reset(ResetMode::None)
      .threshold(1.0)
      .learn_beta(false)
      .beta_clip(false)
      .readout_beta(beta)
      .reference(true);
  SpikingRNN net(so);
  net->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  net->recurrent->bias.zero_();
  net->beta.fill_(beta);
  net->readout_beta.fill_(beta);  // again in float64: the float32 buffer rounded β
  net->readout->bias.zero_();
  return net;
}

/// Input weight and bias so that V_i >= thr  <=>  F_i x̄ + (recurrent latent terms) >= T_i:
/// constant input thr - T_i; inputs enter the membrane unscaled (snnTorch), so (1 - β) makes
/// the membrane a unit-gain filter of them.
void set_threshold_planes(SpikingRNN& net, const torch::Tensor& f, const torch::Tensor& t, double beta) {
  torch::NoGradGuard no_grad;
  net->input->weight.copy_((1.0 - beta) * f.unsqueeze(1));
  net->input->bias.copy_((1.0 - beta) * (1.0 - t));
}

}  // namespace

SpikingRNN make_boundary_population(const BoundaryDemoOptions& o) {
  if (o.network != "inhibitory" && o.network != "ei")
    throw InputError(fmt::format("--network: unknown network '{}' (known: inhibitory, ei)", o.network));
  if (o.neurons < 2) throw InputError(fmt::format("--neurons: need at least 2, got {}", o.neurons));
  if (!(o.beta > 0 && o.beta < 1)) throw InputError(fmt::format("--beta: must lie in (0, 1), got {}", o.beta));
  if (!(o.decoder > 0)) throw InputError(fmt::format("--decoder: must be positive, got {}", o.decoder));
  torch::NoGradGuard no_grad;
  if (o.network == "inhibitory") {
    auto net = demo_network(o.neurons, 1, 1, false, o.beta);
    const auto lines = tangent_lines(o);
    set_threshold_planes(net, lines.f, lines.t, o.beta);
    net->rank_left.fill_(1.0);          // E_i = 1
    net->rank_right.fill_(-o.decoder);  // D_j < 0: inhibitory
    net->readout->weight.fill_(-o.decoder);
    return net;
  }
  const int64_t n = o.neurons;
  auto net = demo_network(2 * n, 2, 2, true, o.beta);
  // Excitatory neurons first: the signs and which latent each neuron feeds.
  auto sign = torch::cat({torch::ones({n}), -torch::ones({n})});
  net->named_buffers()["neuron_sign"].copy_(sign);
  net->latent_mask.copy_(torch::stack({sign.gt(0), sign.lt(0)}, 1));
  // Tangent planes: I neuron i: x p'(x_i) + a y_E + y_I >= x_i p'(x_i) - p(x_i);
  //                 E neuron j: x q'(x_j) + y_E + y_I >= x_j q'(x_j) - q(x_j).
  const auto xs = torch::linspace(o.x_min, o.x_max, n, torch::kFloat64);
  set_threshold_planes(net, torch::cat({ei_dq(xs), ei_dp(xs)}),
                       torch::cat({xs * ei_dq(xs) - ei_q(xs), xs * ei_dp(xs) - ei_p(xs)}), o.beta);
  // Encoders (|L|: column 0 reads y_E, column 1 y_I) and decoders (|R|, signed by Dale's law).
  auto enc = torch::ones({2 * n, 2}, torch::kFloat64);
  enc.slice(0, n).select(1, 0).fill_(kEiSlope);
  net->rank_left.copy_(enc);
  const double d_i = 3.0 * o.decoder;
  net->rank_right.select(1, 0).fill_(o.decoder);
  net->rank_right.select(1, 1).fill_(d_i);
  auto readout = torch::zeros({2, 2 * n}, torch::kFloat64);
  readout[0].slice(0, 0, n).fill_(o.decoder);
  readout[1].slice(0, n).fill_(-d_i);
  net->readout->weight.copy_(readout);
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
  d.spikes = trace.spikes.view({T, -1});
  d.y = trace.readout_mem.select(2, 0).view({T});
  // x̄ and the bias transient, filtered exactly as the membrane filters them.
  const auto lines = tangent_lines(o);
  auto xf = torch::zeros({T}, torch::kFloat64);
  auto bias_gain = torch::zeros({T}, torch::kFloat64);  // 1 - β^(t+1)
  double xbar = 0, gain = 0;
  auto xa = x.accessor<double, 1>(), xfa = xf.accessor<double, 1>(), ga = bias_gain.accessor<double, 1>();
  for (int64_t t = 0; t < T; ++t) {
    xbar = o.beta * xbar + (1.0 - o.beta) * xa[t];
    gain = o.beta * gain + (1.0 - o.beta);
    xfa[t] = xbar;
    ga[t] = gain;
  }
  d.x_filtered = xf;
  if (o.network == "ei") {
    d.y_i = trace.readout_mem.select(2, 1).view({T});
    d.target = ei_g(xf);
    d.target_i = -ei_p(xf) - kEiSlope * d.target;
    return d;
  }
  // V_i = F_i x̄ + g (thr - T_i) + y >= thr  <=>  y >= thr (1 - g) + g T_i - F_i x̄.
  const auto g = bias_gain.unsqueeze(1);
  const auto lines_at_t = (1.0 - g) + g * lines.t.unsqueeze(0) - xf.unsqueeze(1) * lines.f.unsqueeze(0);  // [T, N]
  d.boundary = std::get<0>(lines_at_t.min(1));
  d.target = -xf * xf - 0.5;
  return d;
}

}  // namespace sernn
