#include "models/rate_sequence.h"

#include "core/parallel.h"

#include <cmath>

namespace sernn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Fewest batch rows a chunk takes: thinner slices make the per-step products GEMV-like.
constexpr int64_t kRowGrain = 8;

enum class Leak { None, Shared, PerNeuron };  // alpha == 1, shared alpha, per-neuron alpha

template <class T>
T activate(T z, bool tanh) {
  return tanh ? std::tanh(z) : (z > T(0) ? z : T(0));
}

template <class T>
T activation_slope(T a, bool tanh) {  // f'(z) from a = f(z)
  return tanh ? T(1) - a * a : (a > T(0) ? T(1) : T(0));
}

class RateNetworkFunction : public torch::autograd::Function<RateNetworkFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& drive, const Tensor& weight, const Tensor& alpha,
                        const Tensor& noise, bool tanh) {
    const int64_t T = drive.size(0), B = drive.size(1), N = drive.size(2);
    const Leak leak = alpha.dim() == 1 ? Leak::PerNeuron : (alpha.item<double>() == 1.0 ? Leak::None : Leak::Shared);
    const auto dr = drive.contiguous(), wt = weight.detach().t().contiguous();
    const auto al = alpha.detach().to(drive.scalar_type()).contiguous();
    const auto nz = noise.numel() > 0 ? noise.contiguous() : Tensor();
    auto act = torch::empty({T, B, N}, drive.options());  // a_t (z_t until activated)
    auto h = torch::empty({T, B, N}, drive.options());
    AT_DISPATCH_FLOATING_TYPES(drive.scalar_type(), "rate_forward", [&] {
      // (1 - alpha) rounded from the double, as the per-step path's scalar arithmetic does.
      const double a_d = leak == Leak::Shared ? alpha.item<double>() : 1.0;
      const auto a_shared = static_cast<scalar_t>(a_d), keep = static_cast<scalar_t>(1.0 - a_d);
      const scalar_t* a_vec = leak == Leak::PerNeuron ? al.data_ptr<scalar_t>() : nullptr;
      parallel_for(0, B, kRowGrain, [&](int64_t b0, int64_t b1) {
        torch::NoGradGuard no_grad;  // worker threads start with grad mode on
        for (int64_t t = 0; t < T; ++t) {
          auto z_rows = act[t].slice(0, b0, b1);
          if (t == 0) z_rows.copy_(dr[0].slice(0, b0, b1));
          else torch::addmm_out(z_rows, dr[t].slice(0, b0, b1), h[t - 1].slice(0, b0, b1), wt);
          scalar_t* a = z_rows.data_ptr<scalar_t>();
          scalar_t* ht = h[t].slice(0, b0, b1).data_ptr<scalar_t>();
          const scalar_t* hp = t ? h[t - 1].slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
          const scalar_t* xi = nz.defined() ? nz[t].slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
          const int64_t n_el = (b1 - b0) * N;
          for (int64_t i = 0; i < n_el; ++i) {
            const scalar_t ai = activate(a[i], tanh), prev = hp ? hp[i] : scalar_t(0);
            a[i] = ai;
            scalar_t hi;
            switch (leak) {
              case Leak::None: hi = ai; break;
              case Leak::Shared: hi = keep * prev + a_shared * ai; break;
              default: hi = prev + a_vec[i % N] * (ai - prev); break;
            }
            ht[i] = xi ? hi + xi[i] : hi;
          }
        }
      });
    });
    ctx->save_for_backward({act, h, weight, alpha});
    ctx->saved_data["noise_grad"] = noise.numel() > 0 && noise.requires_grad();
    ctx->saved_data["tanh"] = tanh;
    ctx->saved_data["leak"] = static_cast<int64_t>(leak);
    return h;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &act = saved[0], &h = saved[1], &weight = saved[2], &alpha = saved[3];
    const bool tanh = ctx->saved_data["tanh"].toBool();
    const auto leak = static_cast<Leak>(ctx->saved_data["leak"].toInt());
    const int64_t T = act.size(0), B = act.size(1), N = act.size(2);
    const auto gh_out = grads[0].contiguous();
    const auto w = weight.detach().contiguous();
    const auto al = alpha.detach().to(act.scalar_type()).contiguous();
    auto gz = torch::empty({T, B, N}, act.options());  // dL/dz_t = dL/d drive_t
    auto galpha_rows = leak == Leak::PerNeuron ? torch::zeros({B, N}, act.options()) : Tensor();
    // The noise scale may depend on learnable tau_i: dL/dnoise_t = dL/dh_t.
    auto gnoise = ctx->saved_data["noise_grad"].toBool() ? torch::empty({T, B, N}, act.options()) : Tensor();
    AT_DISPATCH_FLOATING_TYPES(act.scalar_type(), "rate_backward", [&] {
      const double a_d = leak == Leak::Shared ? alpha.item<double>() : 1.0;
      const auto a_shared = static_cast<scalar_t>(a_d), keep = static_cast<scalar_t>(1.0 - a_d);
      const scalar_t* a_vec = leak == Leak::PerNeuron ? al.data_ptr<scalar_t>() : nullptr;
      parallel_for(0, B, kRowGrain, [&](int64_t b0, int64_t b1) {
        torch::NoGradGuard no_grad;
        auto carry = torch::zeros({b1 - b0, N}, act.options());  // dL/dh_t through step t+1
        scalar_t* c = carry.data_ptr<scalar_t>();
        scalar_t* ga_rows = galpha_rows.defined() ? galpha_rows.slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
        const int64_t n_el = (b1 - b0) * N;
        for (int64_t t = T - 1; t >= 0; --t) {
          const scalar_t* g_in = gh_out[t].slice(0, b0, b1).data_ptr<scalar_t>();
          const scalar_t* a = act[t].slice(0, b0, b1).data_ptr<scalar_t>();
          const scalar_t* hp = t ? h[t - 1].slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
          auto gz_rows = gz[t].slice(0, b0, b1);
          scalar_t* g = gz_rows.data_ptr<scalar_t>();
          scalar_t* gn = gnoise.defined() ? gnoise[t].slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
          for (int64_t i = 0; i < n_el; ++i) {
            const scalar_t gh = g_in[i] + c[i];
            if (gn) gn[i] = gh;
            scalar_t ga;
            switch (leak) {
              case Leak::None: ga = gh, c[i] = scalar_t(0); break;
              case Leak::Shared: ga = a_shared * gh, c[i] = keep * gh; break;
              default: {
                const scalar_t ai = a_vec[i % N], prev = hp ? hp[i] : scalar_t(0);
                ga = ai * gh, c[i] = (scalar_t(1) - ai) * gh;
                ga_rows[i] += gh * (a[i] - prev);
              }
            }
            g[i] = ga * activation_slope(a[i], tanh);
          }
          if (t > 0) carry.addmm_(gz_rows, w);  // z_t = drive_t + h_{t-1} W^T
        }
      });
    });
    // dW = sum_t gz_t^T h_{t-1}: one GEMM over all steps.
    const auto gw = T < 2 ? torch::zeros_like(weight)
                          : torch::mm(gz.slice(0, 1).reshape({-1, N}).t(), h.slice(0, 0, T - 1).reshape({-1, N}));
    Tensor galpha;
    if (leak == Leak::PerNeuron && alpha.requires_grad()) galpha = galpha_rows.sum(0).to(alpha.scalar_type());
    return {gz, gw, galpha, gnoise, Tensor()};
  }
};

}  // namespace

Tensor rate_network(const Tensor& drive, const Tensor& weight, const Tensor& alpha, const Tensor& noise, bool tanh) {
  const int64_t N = drive.dim() == 3 ? drive.size(2) : -1;
  TORCH_CHECK(drive.dim() == 3 && weight.dim() == 2 && weight.size(0) == N && weight.size(1) == N,
              "rate_network: drive [T, B, N] and weight [N, N] expected, got ", drive.sizes(), ", ", weight.sizes());
  TORCH_CHECK(alpha.dim() == 0 || (alpha.dim() == 1 && alpha.size(0) == N), "rate_network: alpha 0-dim or [", N,
              "] expected, got ", alpha.sizes());
  TORCH_CHECK(!noise.defined() || noise.sizes() == drive.sizes(), "rate_network: noise must be shaped like drive");
  TORCH_CHECK(drive.is_cpu(), "rate_network: CPU tensors only (other devices use the per-step path)");
  // No noise travels as an empty tensor: autograd functions do not take undefined inputs.
  return RateNetworkFunction::apply(drive, weight, alpha, noise.defined() ? noise : torch::empty({0}, drive.options()),
                                    tanh);
}

}  // namespace sernn
