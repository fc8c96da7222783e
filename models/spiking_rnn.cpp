#include "models/spiking_rnn.h"

#include <cmath>

#include "models/lif_sequence.h"

namespace sernn {
namespace {

void check_inputs(const torch::Tensor& x, int64_t inputs) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == inputs, "SpikingRNN expects inputs [T, B, ", inputs, "], got ", x.sizes());
}

}  // namespace

SpikingRNNImpl::SpikingRNNImpl(SpikingRNNOptions options_) : options(std::move(options_)) { reset(); }

void SpikingRNNImpl::reset() {
  const auto& o = options;
  input = register_module("input", torch::nn::Linear(o.inputs(), o.hidden()));
  recurrent = register_module("recurrent", torch::nn::Linear(o.hidden(), o.hidden()));
  readout = register_module("readout", torch::nn::Linear(o.hidden(), o.outputs()));
  // τ ~ Gamma(shape 3, scale τ_mean / 3) from the global generator (seeded by the caller).
  auto tau = at::_standard_gamma(torch::full({o.hidden()}, 3.0, torch::kFloat64)) * (o.tau_mean_ms() / 3.0);
  auto b = torch::exp(-o.dt_ms() / tau).clamp(o.beta_min(), o.beta_max()).to(torch::kFloat32);
  beta = register_parameter("beta", b, o.learn_beta());
  readout_beta = register_buffer("readout_beta", torch::full({o.outputs()}, o.readout_beta()));
  if (o.rank() <= 0) {
    dale_ = register_dale(*this, recurrent->weight, o.dale());
    if (!o.recurrent()) {
      torch::NoGradGuard no_grad;
      recurrent->weight.zero_();
      recurrent->weight.requires_grad_(false);
    }
    return;
  }
  TORCH_CHECK(o.recurrent(), "SpikingRNN: a low-rank W cannot be held at zero (recurrent = false needs rank 0)");
  TORCH_CHECK(o.rank() <= o.hidden(), "SpikingRNN: rank ", o.rank(), " exceeds the ", o.hidden(), " hidden neurons");
  TORCH_CHECK(o.dale().connectivity >= 1.0,
              "SpikingRNN: a sparse mask (connectivity < 1) and low rank exclude each other");
  {
    torch::NoGradGuard no_grad;
    recurrent->weight.zero_();
  }
  recurrent->weight.requires_grad_(false);
  dale_.sign = torch::ones({o.hidden()});
  if (o.dale().enabled) dale_.sign = register_buffer("neuron_sign", make_dale_mask(o.hidden(), o.dale()).sign);
  // Entries of L R^T are sums of R products of N(0, 1) x N(0, s^2): with s = radius / N the
  // nonzero eigenvalues, sums of N such products, stay about radius / sqrt(N) at the start.
  const double s = o.dale().spectral_radius / static_cast<double>(o.hidden());
  rank_left = register_parameter("rank_left", torch::randn({o.hidden(), o.rank()}));
  rank_right = register_parameter("rank_right", torch::randn({o.hidden(), o.rank()}) * s);
  if (o.population_latents()) {
    TORCH_CHECK(o.dale().enabled && o.rank() >= 2, "SpikingRNN: population latents need Dale's law and rank >= 2");
    const auto exc = dale_.sign.gt(0).unsqueeze(1);                                             // [N, 1]
    const auto even = (torch::arange(o.rank(), torch::kInt64).remainder(2) == 0).unsqueeze(0);  // [1, R]
    latent_mask = register_buffer("latent_mask", exc.eq(even).to(torch::kFloat32));
  }
}

torch::Tensor SpikingRNNImpl::recurrent_weight() {
  if (options.rank() > 0) {
    if (!options.dale().enabled) return torch::matmul(rank_left, rank_right.t());
    auto decoders = rank_right.abs() * dale_.sign.unsqueeze(1);
    if (latent_mask.defined()) decoders = decoders * latent_mask;
    return torch::matmul(rank_left.abs(), decoders.t());
  }
  return masked_weight(recurrent->weight, dale_, options.dale());
}

torch::Tensor SpikingRNNImpl::recurrent_parameter() {
  TORCH_CHECK(options.rank() <= 0, "SpikingRNN: low-rank W has no per-synapse parameter (pruning needs full rank)");
  return recurrent->weight;
}

torch::Tensor SpikingRNNImpl::drive(const torch::Tensor& x, const SparseInput* sparse) {
  const auto bias = input->bias + recurrent->bias;
  return sparse ? sparse_projection(*sparse, input->weight, bias) : input_projection(x, input->weight, bias);
}

LifNetworkTrace SpikingRNNImpl::forward_fast(const torch::Tensor& x) {
  check_inputs(x, options.inputs());
  const auto& o = options;
  // Feed-forward current of all T steps at once (both biases folded in), sparse-aware. The
  // drive is read only by lif_network (the projection's backward does not need its output),
  // so it becomes the membrane buffer.
  return lif_network(drive(x), recurrent_weight(), beta, {readout->weight, readout->bias, readout_beta}, o.threshold(),
                     o.slope(), o.reset(), /*drive_is_scratch=*/true);
}

SpikingTrace SpikingRNNImpl::simulate(const torch::Tensor& x) {
  const auto& o = options;
  if (!o.reference()) {
    auto tr = forward_fast(x);
    return {tr.spikes.to(x.scalar_type()), tr.readout_mem};
  }
  check_inputs(x, o.inputs());
  const int64_t T = x.size(0), B = x.size(1), N = o.hidden(), C = o.outputs();
  // Reference: the plain per-step loop of an snnTorch model (Linear, RLeaky, Linear, Leaky).
  LifState hidden{torch::zeros({B, N}, x.options()), torch::zeros({B, N}, x.options())};
  LifState out{torch::zeros({B, C}, x.options()), torch::Tensor()};
  std::vector<torch::Tensor> spikes, mems;
  spikes.reserve(T);
  mems.reserve(T);
  const auto xs = x.unbind(0);
  // Same addition order as the fast path (biases first), so both round alike: with a steep
  // surrogate, float32 rounding differences in V would otherwise show up in the gradients.
  const auto bias = input->bias + recurrent->bias;
  const auto w_in_t = input->weight.t(), w_rec_t = recurrent_weight().t();
  for (int64_t t = 0; t < T; ++t) {
    const auto current = torch::addmm(torch::addmm(bias, xs[t], w_in_t), hidden.spk, w_rec_t);
    hidden = lif_step(current, beta, hidden, o.threshold(), o.slope(), o.reset());
    out = lif_step(readout->forward(hidden.spk), readout_beta, out, o.threshold(), o.slope(), ResetMode::None,
                   /*fire=*/false);
    spikes.push_back(hidden.spk);
    mems.push_back(out.mem);
  }
  return {torch::stack(spikes), torch::stack(mems)};
}

NetworkOutput spiking_output(const torch::Tensor& readout_mem, const torch::Tensor& counts, bool sum_readout) {
  const int64_t time = readout_mem.dim() - 3;
  NetworkOutput out;
  out.logits = sum_readout ? readout_mem.sum(time) : std::get<0>(readout_mem.max(time));
  out.activity = counts / static_cast<double>(readout_mem.size(time));
  out.stats["rate_hidden"] = out.activity.detach().mean({-2, -1});
  return out;
}

NetworkOutput SpikingRNNImpl::run(const torch::Tensor& inputs, bool /*training*/) {
  if (options.reference()) {
    auto trace = simulate(inputs);
    return spiking_output(trace.readout_mem, trace.spikes.sum(0), options.sum_readout());
  }
  auto trace = forward_fast(inputs);
  return spiking_output(trace.readout_mem, trace.counts, options.sum_readout());
}

void SpikingRNNImpl::after_step() {
  if (!options.beta_clip()) return;
  torch::NoGradGuard no_grad;
  beta.clamp_(options.beta_min(), options.beta_max());
}

std::map<std::string, double> SpikingRNNImpl::parameter_stats() {
  auto b = beta.detach().to(torch::kCPU, torch::kFloat64);
  return {{"beta_mean", b.mean().item<double>()},
          {"beta_min", b.min().item<double>()},
          {"beta_max", b.max().item<double>()}};
}

}  // namespace sernn
