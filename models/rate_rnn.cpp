#include "models/rate_rnn.h"

namespace sernn {

RateRNNImpl::RateRNNImpl(RateRNNOptions options_) : options(std::move(options_)) { reset(); }

void RateRNNImpl::reset() {
  input = register_module("input", torch::nn::Linear(torch::nn::LinearOptions(options.inputs(), options.hidden()).bias(false)));
  recurrent = register_module("recurrent", torch::nn::Linear(options.hidden(), options.hidden()));
  readout = register_module("readout", torch::nn::Linear(options.hidden(), options.outputs()));
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(input->weight);
  torch::nn::init::orthogonal_(recurrent->weight);
  recurrent->bias.zero_();
  torch::nn::init::xavier_uniform_(readout->weight);
  readout->bias.zero_();
}

torch::Tensor RateRNNImpl::hidden_states(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.inputs(), "RateRNN expects inputs [T, B, ", options.inputs(),
              "], got ", x.sizes());
  const int64_t T = x.size(0), B = x.size(1), N = options.hidden();
  const double a = options.alpha();
  auto act = [&](const torch::Tensor& z) { return options.tanh() ? torch::tanh(z) : torch::relu(z); };
  // Fast path: the input projection of all T steps as one GEMM, bias folded in.
  torch::Tensor drive;
  if (!options.reference()) drive = torch::addmm(recurrent->bias, x.reshape({T * B, -1}), input->weight.t()).view({T, B, N});
  // unbind, not drive[t]: T select-backwards would each materialise a full [T, B, N] gradient.
  std::vector<torch::Tensor> drives, xs;
  if (options.reference()) xs = x.unbind(0);
  else drives = drive.unbind(0);
  auto h = torch::zeros({B, N}, x.options());
  std::vector<torch::Tensor> hs;
  hs.reserve(T);
  const auto wt = recurrent->weight.t();
  for (int64_t t = 0; t < T; ++t) {
    torch::Tensor z = options.reference() ? input->forward(xs[t]) + recurrent->forward(h) : torch::addmm(drives[t], h, wt);
    h = a == 1.0 ? act(z) : (1.0 - a) * h + a * act(z);
    hs.push_back(h);
  }
  return torch::stack(hs);
}

NetworkOutput RateRNNImpl::run(const torch::Tensor& inputs, bool /*training*/) {
  auto hs = hidden_states(inputs);
  NetworkOutput out;
  out.logits = readout->forward(hs[-1]);
  return out;
}

}  // namespace sernn
