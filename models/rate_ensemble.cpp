#include "models/rate_ensemble.h"

#include "core/parallel.h"
#include "models/rate_sequence.h"

namespace sernn {
namespace {

using torch::Tensor;

// K independent affine maps on the CPU, members spread over sernn's threads (LibTorch's batched
// products and reductions run on one thread here: core/parallel.h keeps its intra-op threads at
// 1 for small networks): out[k] = x[k] w[k]^T + b[k], x [K, M, C], w [K, N, C], b [K, N].
class MemberLinear : public torch::autograd::Function<MemberLinear> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x, const Tensor& w, const Tensor& b) {
    auto out = torch::empty({x.size(0), x.size(1), w.size(1)}, x.options());
    parallel_for(0, x.size(0), 1, [&](int64_t k0, int64_t k1) {
      torch::NoGradGuard no_grad;
      for (int64_t k = k0; k < k1; ++k) {
        auto o = out[k];
        torch::addmm_out(o, b[k], x[k], w[k].t());
      }
    });
    ctx->save_for_backward({x, w});
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const auto g = grads[0].contiguous();
    const bool want_x = ctx->needs_input_grad(0);
    auto gx = want_x ? torch::empty_like(x) : Tensor();
    auto gw = torch::empty_like(w), gb = torch::empty({w.size(0), w.size(1)}, w.options());
    parallel_for(0, x.size(0), 1, [&](int64_t k0, int64_t k1) {
      torch::NoGradGuard no_grad;
      for (int64_t k = k0; k < k1; ++k) {
        auto gwk = gw[k], gbk = gb[k];
        torch::mm_out(gwk, g[k].t(), x[k]);
        torch::sum_out(gbk, g[k], 0);
        if (want_x) {
          auto gxk = gx[k];
          torch::mm_out(gxk, g[k], w[k]);
        }
      }
    });
    return {gx, gw, gb};
  }
};

}  // namespace

RateEnsembleImpl::RateEnsembleImpl(const std::vector<RateRNN>& members) : options(members.at(0)->options) {
  auto stack = [&](auto get) {
    std::vector<torch::Tensor> parts;
    for (const auto& m : members) parts.push_back(get(m).detach().clone());
    return torch::stack(parts);
  };
  // Submodules give the parameters the same dotted names as RateRNN's.
  auto input = register_module("input", std::make_shared<torch::nn::Module>());
  auto recurrent = register_module("recurrent", std::make_shared<torch::nn::Module>());
  auto readout = register_module("readout", std::make_shared<torch::nn::Module>());
  input_w = input->register_parameter("weight", stack([](const RateRNN& m) { return m->input->weight; }));
  recurrent_w = recurrent->register_parameter("weight", stack([](const RateRNN& m) { return m->recurrent->weight; }));
  recurrent_b = recurrent->register_parameter("bias", stack([](const RateRNN& m) { return m->recurrent->bias; }));
  readout_w = readout->register_parameter("weight", stack([](const RateRNN& m) { return m->readout->weight; }));
  readout_b = readout->register_parameter("bias", stack([](const RateRNN& m) { return m->readout->bias; }));
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
    const auto drive = MemberLinear::apply(x.reshape({K, T * B, -1}), input_w, recurrent_b).view({K, T, B, N});
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
