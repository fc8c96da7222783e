#include "models/rate_ensemble.h"

#include "core/parallel.h"
#include "models/rate_sequence.h"
#include "models/stacking.h"

namespace sernn {

RateEnsembleImpl::RateEnsembleImpl(const std::vector<RateRNN>& members) : options(members.at(0)->options) {
  const auto layers = register_stacked_layers(*this);
  auto stack = [&](auto get) { return stack_members(members, get); };
  input_w = layers.input->register_parameter("weight", stack([](const RateRNN& m) { return m->input->weight; }));
  recurrent_w =
      layers.recurrent->register_parameter("weight", stack([](const RateRNN& m) { return m->recurrent->weight; }));
  recurrent_b =
      layers.recurrent->register_parameter("bias", stack([](const RateRNN& m) { return m->recurrent->bias; }));
  readout_w = layers.readout->register_parameter("weight", stack([](const RateRNN& m) { return m->readout->weight; }));
  readout_b = layers.readout->register_parameter("bias", stack([](const RateRNN& m) { return m->readout->bias; }));
}

torch::Tensor RateEnsembleImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(0) == members() && x.size(3) == options.inputs(), "RateEnsemble expects inputs [",
              members(), ", T, B, ", options.inputs(), "], got ", x.sizes());
  const int64_t K = x.size(0), T = x.size(1), B = x.size(2), N = options.hidden();
  const double a = options.alpha();
  torch::Tensor h;
  if (x.is_cpu() && !options.reference()) {
    // The input projection and the fused sequence with a member dimension: the members spread
    // over the threads, forward and backward; only the last state is kept.
    const auto drive = member_linear(x.reshape({K, T * B, -1}), input_w, recurrent_b).view({K, T, B, N});
    h = rate_network_last(drive, recurrent_w, torch::tensor(a, torch::kFloat64), options.tanh());
  } else {
    // Input projection of all steps at once per network: [K, T*B, C] x [K, C, N] + b.
    const auto drive =
        torch::baddbmm(recurrent_b.unsqueeze(1), x.reshape({K, T * B, -1}), input_w.transpose(1, 2)).view({K, T, B, N});
    const auto drives = drive.unbind(1);
    const auto wt = recurrent_w.transpose(1, 2);
    h = torch::zeros({K, B, N}, x.options());
    for (int64_t t = 0; t < T; ++t) {
      auto z = torch::baddbmm(drives[t], h, wt);
      auto f = options.tanh() ? torch::tanh(z) : torch::relu(z);
      h = a == 1.0 ? f : (1.0 - a) * h + a * f;
    }
  }
  if (x.is_cpu() && !options.reference()) return member_linear(h, readout_w, readout_b);
  return torch::baddbmm(readout_b.unsqueeze(1), h, readout_w.transpose(1, 2));
}

NetworkOutput RateEnsembleImpl::run(const torch::Tensor& inputs, bool /*training*/) {
  NetworkOutput out;
  out.logits = forward(inputs);
  return out;
}

RateRNN RateEnsembleImpl::member_rnn(int64_t k) const {
  RateRNN m(options);
  m->to(recurrent_w.device());
  torch::NoGradGuard no_grad;
  m->input->weight.copy_(input_w[k]);
  m->recurrent->weight.copy_(recurrent_w[k]);
  m->recurrent->bias.copy_(recurrent_b[k]);
  m->readout->weight.copy_(readout_w[k]);
  m->readout->bias.copy_(readout_b[k]);
  return m;
}

}  // namespace sernn
