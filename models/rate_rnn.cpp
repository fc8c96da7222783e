#include "models/rate_rnn.h"

#include "models/rate_sequence.h"

#include <cmath>

namespace sernn {

RateRNNImpl::RateRNNImpl(RateRNNOptions options_) : options(std::move(options_)) { reset(); }

void RateRNNImpl::reset() {
  const auto& o = options;
  input = register_module("input", torch::nn::Linear(torch::nn::LinearOptions(o.inputs(), o.hidden()).bias(false)));
  recurrent = register_module("recurrent", torch::nn::Linear(o.hidden(), o.hidden()));
  readout = register_module("readout", torch::nn::Linear(o.hidden(), o.outputs()));
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(input->weight);
  torch::nn::init::orthogonal_(recurrent->weight);
  recurrent->bias.zero_();
  torch::nn::init::xavier_uniform_(readout->weight);
  readout->bias.zero_();
  dale_ = register_dale(*this, recurrent->weight, o.dale());
  if (o.tau_per_neuron() || o.learn_tau()) {
    // tau_i ~ Gamma(shape 3, scale tau/3) around the shared tau = 1 / alpha, clipped.
    const double mean = 1.0 / o.alpha();
    auto t = (at::_standard_gamma(torch::full({o.hidden()}, 3.0, torch::kFloat64)) * (mean / 3.0))
                 .clamp(o.tau_min(), o.tau_max())
                 .to(torch::kFloat32);
    tau = register_parameter("tau", t, o.learn_tau());
  }
}

torch::Tensor RateRNNImpl::recurrent_weight() { return masked_weight(recurrent->weight, dale_, options.dale()); }

torch::Tensor RateRNNImpl::alpha() const { return tau.defined() ? 1.0 / tau : torch::tensor(options.alpha()); }

torch::Tensor RateRNNImpl::hidden_states(const torch::Tensor& x, bool noisy) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.inputs(), "RateRNN expects inputs [T, B, ", options.inputs(),
              "], got ", x.sizes());
  const int64_t T = x.size(0), B = x.size(1), N = options.hidden();
  const bool per_neuron = tau.defined();
  const double a = options.alpha();
  const auto a_vec = per_neuron ? alpha() : torch::Tensor();
  const double sigma = noisy ? options.noise() : 0.0;
  auto act = [&](const torch::Tensor& z) { return options.tanh() ? torch::tanh(z) : torch::relu(z); };
  const auto w = recurrent_weight();
  // Fast path: the input projection of all T steps as one GEMM, bias folded in.
  torch::Tensor drive;
  if (!options.reference() && x.is_cpu())  // as an ensemble's member computes it (rate_sequence.h)
    drive = member_linear(x.reshape({1, T * B, -1}), input->weight.unsqueeze(0), recurrent->bias.unsqueeze(0))
                .view({T, B, N});
  else if (!options.reference())
    drive = torch::addmm(recurrent->bias, x.reshape({T * B, -1}), input->weight.t()).view({T, B, N});
  if (!options.reference() && x.is_cpu()) {
    // The whole time loop as one autograd node (rate_sequence.h); the noise drawn up front.
    torch::Tensor noise;
    if (sigma > 0) {
      noise = torch::randn({T, B, N}, x.options());
      noise = per_neuron ? noise * (a_vec.sqrt() * sigma) : noise * (std::sqrt(a) * sigma);
    }
    return rate_network(drive, w, per_neuron ? a_vec : torch::tensor(a, torch::kFloat64), noise, options.tanh());
  }
  // unbind, not drive[t]: T select-backwards would each materialise a full [T, B, N] gradient.
  std::vector<torch::Tensor> drives, xs;
  if (options.reference()) xs = x.unbind(0);
  else drives = drive.unbind(0);
  auto h = torch::zeros({B, N}, x.options());
  std::vector<torch::Tensor> hs;
  hs.reserve(T);
  const auto wt = w.t();
  for (int64_t t = 0; t < T; ++t) {
    torch::Tensor z = options.reference() ? input->forward(xs[t]) + torch::nn::functional::linear(h, w, recurrent->bias)
                                          : torch::addmm(drives[t], h, wt);
    if (per_neuron) h = h + a_vec * (act(z) - h);
    else h = a == 1.0 ? act(z) : (1.0 - a) * h + a * act(z);
    if (sigma > 0)
      h = per_neuron ? h + torch::randn_like(h) * (a_vec.sqrt() * sigma)
                     : h + torch::randn_like(h) * (std::sqrt(a) * sigma);
    hs.push_back(h);
  }
  return torch::stack(hs);
}

NetworkOutput RateRNNImpl::run(const torch::Tensor& inputs, bool training) {
  auto hs = hidden_states(inputs, training);
  NetworkOutput out;
  const bool fused = !options.reference() && inputs.is_cpu();  // the readout as an ensemble's member
  out.logits =
      fused ? member_linear(hs[-1].unsqueeze(0), readout->weight.unsqueeze(0), readout->bias.unsqueeze(0)).squeeze(0)
            : readout->forward(hs[-1]);
  out.activity = hs.mean(0);
  return out;
}

void RateRNNImpl::after_step() {
  if (!tau.defined() || !options.learn_tau()) return;
  torch::NoGradGuard no_grad;
  tau.clamp_(options.tau_min(), options.tau_max());
}

std::map<std::string, double> RateRNNImpl::parameter_stats() {
  if (!tau.defined()) return {};
  auto t = tau.detach().to(torch::kCPU, torch::kFloat64);
  std::map<std::string, double> s{{"tau_mean", t.mean().item<double>()}};
  if (options.dale().enabled) {
    const auto exc = dale_.sign.gt(0).to(torch::kCPU);
    const auto te = t.index({exc}), ti = t.index({exc.logical_not()});
    s["tau_exc_mean"] = te.mean().item<double>();
    s["tau_inh_mean"] = ti.mean().item<double>();
    // Spread within each population (seed 004: training diversifies inhibitory timescales).
    s["tau_exc_std"] = te.numel() > 1 ? te.std().item<double>() : 0.0;
    s["tau_inh_std"] = ti.numel() > 1 ? ti.std().item<double>() : 0.0;
  }
  return s;
}

}  // namespace sernn
