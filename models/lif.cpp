#include "models/lif.h"

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class FastSigmoidSpike : public torch::autograd::Function<FastSigmoidSpike> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, double slope) {
    ctx->save_for_backward({x});
    ctx->saved_data["slope"] = slope;
    return x.gt(0).to(x.scalar_type());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const double slope = ctx->saved_data["slope"].toDouble();
    return {grads[0] / (slope * x.abs() + 1.0).pow(2), torch::Tensor()};
  }
};

}  // namespace

ResetMode parse_reset(const std::string& name) {
  if (name == "subtract") return ResetMode::Subtract;
  if (name == "subtract_decayed") return ResetMode::SubtractDecayed;
  if (name == "zero") return ResetMode::Zero;
  if (name == "none") return ResetMode::None;
  if (name == "zero_immediate") return ResetMode::ZeroImmediate;
  throw InputError(
      fmt::format("unknown reset '{}' (known: subtract, subtract_decayed, zero, zero_immediate, none)", name));
}

torch::Tensor spike_fn(const torch::Tensor& x, double slope) { return FastSigmoidSpike::apply(x, slope); }

LifState lif_step(const torch::Tensor& current, const torch::Tensor& beta, const LifState& state, double threshold,
                  double slope, ResetMode reset, bool fire) {
  const auto b = beta.clamp(0.0, 1.0);
  torch::Tensor mem;
  if (!fire || reset == ResetMode::None) {
    mem = b * state.mem + current;
  } else {
    // The reset comes from the previous membrane and carries no gradient (snnTorch mem_reset).
    const auto r = state.mem.detach().gt(threshold).to(state.mem.scalar_type());
    mem = lif::membrane_update(b, state.mem, current, r, threshold, reset);
  }
  LifState next;
  next.mem = mem;
  next.spk = fire ? spike_fn(mem - threshold, slope) : torch::zeros_like(mem);
  return next;
}

}  // namespace sernn
