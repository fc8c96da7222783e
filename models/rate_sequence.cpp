#include "models/rate_sequence.h"

#include "core/parallel.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace sernn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

enum class Leak { None, Shared, PerNeuron };  // alpha == 1, shared alpha, per-neuron alpha

template <bool Tanh, class T>
T activate(T z) {
  if constexpr (Tanh) return std::tanh(z);
  else return z > T(0) ? z : T(0);
}

template <bool Tanh, class T>
T activation_slope(T a) {  // f'(z) from a = f(z)
  if constexpr (Tanh) return T(1) - a * a;
  else return a > T(0) ? T(1) : T(0);
}

/// Batch rows of one piece of the rate loops (for_row_blocks): 64, not core/parallel.h's 32:
/// every step is a GEMM against the whole [N, N] W, which OpenBLAS packs anew per call, and 32-row
/// pieces ran the rate one-choice epoch 24 % slower at 2 threads. Fixed, so results do not depend
/// on the threads.
constexpr int64_t kRateRowBlock = 64;

/// The leak's constants: (1 - alpha) and alpha rounded from the double, as the per-step path's
/// scalar arithmetic does; per-neuron alpha_i [N].
template <class T>
struct LeakConsts {
  T alpha = T(1), keep = T(0);
  const T* per_neuron = nullptr;
};

/// The constants of `leak` from the alpha the function was given (al: alpha in the data's type).
template <class T>
LeakConsts<T> leak_consts(Leak leak, const Tensor& alpha, const Tensor& al) {
  const double a = leak == Leak::Shared ? alpha.item<double>() : 1.0;
  LeakConsts<T> lk;
  lk.alpha = static_cast<T>(a), lk.keep = static_cast<T>(1.0 - a);
  lk.per_neuron = leak == Leak::PerNeuron ? al.data_ptr<T>() : nullptr;
  return lk;
}

/// One step's elementwise part for `rows` rows of N neurons: a = f(z) in place, then h_t from
/// h_{t-1} (hp), plus the noise (xi, may be null). Compiled per leak, activation and noise, with
/// unaliased pointers, so that the inner loop has no branches and vectorises.
template <Leak L, bool Tanh, bool Noise, class T>
void forward_rows(T* __restrict a, T* __restrict ht, const T* __restrict hp, const T* __restrict xi, int64_t rows,
                  int64_t N, const LeakConsts<T>& lk) {
  const T alpha = lk.alpha, keep = lk.keep;
  const T* __restrict per_neuron = lk.per_neuron;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * N;
    for (int64_t j = 0; j < N; ++j) {
      const T ai = activate<Tanh>(a[o + j]), prev = hp[o + j];
      a[o + j] = ai;
      T hi;
      if constexpr (L == Leak::None) hi = ai;
      else if constexpr (L == Leak::Shared) hi = keep * prev + alpha * ai;
      else hi = prev + per_neuron[j] * (ai - prev);
      if constexpr (Noise) hi = hi + xi[o + j];
      ht[o + j] = hi;
    }
  }
}

template <Leak L, bool Tanh, class T>
void forward_elements(T* a, T* ht, const T* hp, const T* xi, int64_t rows, int64_t N, const LeakConsts<T>& lk) {
  if (xi) forward_rows<L, Tanh, true>(a, ht, hp, xi, rows, N, lk);
  else forward_rows<L, Tanh, false>(a, ht, hp, xi, rows, N, lk);
}

/// The same step backward: from dL/dh_t (g_in, may be null: zero) plus the carry c (dL/dh_t
/// through step t+1), writes dL/dz_t (g), the new carry (dL/dh_{t-1} through the leak), the noise
/// gradient (gn, may be null) and, per-neuron alpha, its per-row partial sums (ga_rows).
template <Leak L, bool Tanh, bool In, bool NoiseGrad, class T>
void backward_rows(const T* __restrict g_in, T* __restrict c, const T* __restrict a, const T* __restrict hp,
                   T* __restrict g, T* __restrict gn, T* __restrict ga_rows, int64_t rows, int64_t N,
                   const LeakConsts<T>& lk) {
  const T alpha = lk.alpha, keep = lk.keep;
  const T* __restrict per_neuron = lk.per_neuron;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * N;
    for (int64_t j = 0; j < N; ++j) {
      const int64_t i = o + j;
      T gh = c[i];
      if constexpr (In) gh = g_in[i] + gh;
      if constexpr (NoiseGrad) gn[i] = gh;
      T ga;
      if constexpr (L == Leak::None) {
        ga = gh, c[i] = T(0);
      } else if constexpr (L == Leak::Shared) {
        ga = alpha * gh, c[i] = keep * gh;
      } else {
        const T ai = per_neuron[j];
        ga = ai * gh, c[i] = (T(1) - ai) * gh;
        ga_rows[i] += gh * (a[i] - hp[i]);
      }
      g[i] = ga * activation_slope<Tanh>(a[i]);
    }
  }
}

template <Leak L, bool Tanh, class T>
void backward_elements(const T* g_in, T* c, const T* a, const T* hp, T* g, T* gn, T* ga_rows, int64_t rows, int64_t N,
                       const LeakConsts<T>& lk) {
  if (g_in && gn) backward_rows<L, Tanh, true, true>(g_in, c, a, hp, g, gn, ga_rows, rows, N, lk);
  else if (g_in) backward_rows<L, Tanh, true, false>(g_in, c, a, hp, g, gn, ga_rows, rows, N, lk);
  else if (gn) backward_rows<L, Tanh, false, true>(g_in, c, a, hp, g, gn, ga_rows, rows, N, lk);
  else backward_rows<L, Tanh, false, false>(g_in, c, a, hp, g, gn, ga_rows, rows, N, lk);
}

/// Calls fn(integral_constant<Leak>, integral_constant<bool>) for the runtime leak and activation.
template <class Fn>
void dispatch_step(Leak leak, bool tanh, Fn&& fn) {
  auto with_leak = [&](auto l) {
    if (tanh) fn(l, std::true_type{});
    else fn(l, std::false_type{});
  };
  switch (leak) {
    case Leak::None: with_leak(std::integral_constant<Leak, Leak::None>{}); break;
    case Leak::Shared: with_leak(std::integral_constant<Leak, Leak::Shared>{}); break;
    default: with_leak(std::integral_constant<Leak, Leak::PerNeuron>{}); break;
  }
}

// Everything below works on K members: drive/noise/act/h [K, T, B, N], weight [K, N, N]; a
// single network is K = 1 (rate_network adds and removes the dimension).
class RateNetworkFunction : public torch::autograd::Function<RateNetworkFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& drive, const Tensor& weight, const Tensor& alpha,
                        const Tensor& noise, bool tanh, bool last_only) {
    const int64_t K = drive.size(0), T = drive.size(1), B = drive.size(2), N = drive.size(3);
    const Leak leak = alpha.dim() == 1 ? Leak::PerNeuron : (alpha.item<double>() == 1.0 ? Leak::None : Leak::Shared);
    const auto dr = drive.contiguous(), wt = weight.detach().transpose(1, 2).contiguous();
    const auto al = alpha.detach().to(drive.scalar_type()).contiguous();
    const auto nz = noise.numel() > 0 ? noise.contiguous() : Tensor();
    auto act = torch::empty({K, T, B, N}, drive.options());  // a_t (z_t until activated)
    auto h = torch::empty({K, T, B, N}, drive.options());
    AT_DISPATCH_FLOATING_TYPES(drive.scalar_type(), "rate_forward", [&] {
      const auto lk = leak_consts<scalar_t>(leak, alpha, al);
      for_row_blocks(
          K, B,
          [&](int64_t k, int64_t b0, int64_t b1) {
            torch::NoGradGuard no_grad;  // worker threads start with grad mode on
            const auto act_k = act[k], h_k = h[k], dr_k = dr[k], wt_k = wt[k];
            const auto zeros = torch::zeros({b1 - b0, N}, drive.options());  // h_{-1}
            for (int64_t t = 0; t < T; ++t) {
              auto z_rows = act_k[t].slice(0, b0, b1);
              if (t == 0) z_rows.copy_(dr_k[0].slice(0, b0, b1));
              else torch::addmm_out(z_rows, dr_k[t].slice(0, b0, b1), h_k[t - 1].slice(0, b0, b1), wt_k);
              scalar_t* a = z_rows.data_ptr<scalar_t>();
              scalar_t* ht = h_k[t].slice(0, b0, b1).data_ptr<scalar_t>();
              const scalar_t* hp = (t ? h_k[t - 1].slice(0, b0, b1) : zeros).data_ptr<scalar_t>();
              const scalar_t* xi = nz.defined() ? nz[k][t].slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
              dispatch_step(leak, tanh, [&](auto l, auto th) {
                forward_elements<decltype(l)::value, decltype(th)::value>(a, ht, hp, xi, b1 - b0, N, lk);
              });
            }
          },
          kRateRowBlock);
    });
    ctx->save_for_backward({act, h, weight, alpha});
    ctx->saved_data["noise_grad"] = noise.numel() > 0 && noise.requires_grad();
    ctx->saved_data["tanh"] = tanh;
    ctx->saved_data["leak"] = static_cast<int64_t>(leak);
    ctx->saved_data["last_only"] = last_only;
    return last_only ? h.select(1, T - 1).clone() : h;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &act = saved[0], &h = saved[1], &weight = saved[2], &alpha = saved[3];
    const bool tanh = ctx->saved_data["tanh"].toBool();
    const auto leak = static_cast<Leak>(ctx->saved_data["leak"].toInt());
    const int64_t K = act.size(0), T = act.size(1), B = act.size(2), N = act.size(3);
    // last_only: dL/dh_t is zero before the last step (no [K, T, B, N] of zeros is read).
    const bool last_only = ctx->saved_data["last_only"].toBool();
    const auto gh_out = last_only ? grads[0].unsqueeze(1).contiguous() : grads[0].contiguous();
    const auto w = weight.detach().contiguous();
    const auto al = alpha.detach().to(act.scalar_type()).contiguous();
    auto gz = torch::empty({K, T, B, N}, act.options());  // dL/dz_t = dL/d drive_t
    // Per-neuron alpha: K = 1 (rate_network checks), one row of partial sums per batch row.
    auto galpha_rows = leak == Leak::PerNeuron ? torch::zeros({B, N}, act.options()) : Tensor();
    // The noise scale may depend on learnable tau_i: dL/dnoise_t = dL/dh_t.
    auto gnoise = ctx->saved_data["noise_grad"].toBool() ? torch::empty({K, T, B, N}, act.options()) : Tensor();
    AT_DISPATCH_FLOATING_TYPES(act.scalar_type(), "rate_backward", [&] {
      const auto lk = leak_consts<scalar_t>(leak, alpha, al);
      for_row_blocks(
          K, B,
          [&](int64_t k, int64_t b0, int64_t b1) {
            torch::NoGradGuard no_grad;
            auto carry = torch::zeros({b1 - b0, N}, act.options());        // dL/dh_t through step t+1
            const auto zeros = torch::zeros({b1 - b0, N}, act.options());  // h_{-1}
            scalar_t* c = carry.data_ptr<scalar_t>();
            scalar_t* ga_rows = galpha_rows.defined() ? galpha_rows.slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
            const auto gh_k = gh_out[k], act_k = act[k], h_k = h[k], gz_k = gz[k], w_k = w[k];
            for (int64_t t = T - 1; t >= 0; --t) {
              const bool given = !last_only || t == T - 1;
              const scalar_t* g_in = given ? gh_k[last_only ? 0 : t].slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
              const scalar_t* a = act_k[t].slice(0, b0, b1).data_ptr<scalar_t>();
              const scalar_t* hp = (t ? h_k[t - 1].slice(0, b0, b1) : zeros).data_ptr<scalar_t>();
              auto gz_rows = gz_k[t].slice(0, b0, b1);
              scalar_t* g = gz_rows.data_ptr<scalar_t>();
              scalar_t* gn = gnoise.defined() ? gnoise[k][t].slice(0, b0, b1).data_ptr<scalar_t>() : nullptr;
              dispatch_step(leak, tanh, [&](auto l, auto th) {
                backward_elements<decltype(l)::value, decltype(th)::value>(g_in, c, a, hp, g, gn, ga_rows, b1 - b0, N,
                                                                           lk);
              });
              if (t > 0) carry.addmm_(gz_rows, w_k);  // z_t = drive_t + h_{t-1} W^T
            }
          },
          kRateRowBlock);
    });
    Tensor galpha;
    if (leak == Leak::PerNeuron && alpha.requires_grad()) galpha = galpha_rows.sum(0).to(alpha.scalar_type());
    return {gz, weight_gradient(gz, h), galpha, gnoise, Tensor(), Tensor()};
  }

  // dW_k = sum_t gz_t^T h_{t-1}: one product over all steps per member, in row blocks on the pool
  // (blocked_matmul: the same bits at any thread count and for a member alone).
  static Tensor weight_gradient(const Tensor& gz, const Tensor& h) {
    const int64_t K = gz.size(0), T = gz.size(1), N = gz.size(3);
    if (T < 2) return torch::zeros({K, N, N}, gz.options());
    return blocked_matmul(gz.slice(1, 1).reshape({K, -1, N}).transpose(1, 2), h.slice(1, 0, T - 1).reshape({K, -1, N}));
  }
};

class MemberLinear : public torch::autograd::Function<MemberLinear> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& w, const Tensor& b) {
    ctx->save_for_backward({x, w});
    return blocked_matmul(x, w.transpose(1, 2), b);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const auto g = grads[0].contiguous();
    auto gb = torch::empty({w.size(0), w.size(1)}, w.options());
    // One bias sum per member, each of a member's own shape (as the network alone sums it).
    parallel_for(0, x.size(0), 1, [&](int64_t k0, int64_t k1) {
      torch::NoGradGuard no_grad;
      for (int64_t k = k0; k < k1; ++k) {
        auto gbk = gb[k];
        torch::sum_out(gbk, g[k], 0);
      }
    });
    return {ctx->needs_input_grad(0) ? blocked_matmul(g, w) : Tensor(), blocked_matmul(g.transpose(1, 2), x), gb};
  }
};

}  // namespace

Tensor member_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  TORCH_CHECK(x.dim() == 3 && w.dim() == 3 && b.dim() == 2 && w.size(0) == x.size(0) && b.size(0) == x.size(0) &&
                  w.size(2) == x.size(2) && b.size(1) == w.size(1),
              "member_linear: x [K, M, C], w [K, N, C] and b [K, N] expected, got ", x.sizes(), ", ", w.sizes(), ", ",
              b.sizes());
  return MemberLinear::apply(x, w, b);
}

Tensor rate_network(const Tensor& drive, const Tensor& weight, const Tensor& alpha, const Tensor& noise, bool tanh) {
  const bool members = drive.dim() == 4;
  const int64_t N = drive.dim() >= 3 ? drive.size(-1) : -1, K = members ? drive.size(0) : 1;
  TORCH_CHECK((drive.dim() == 3 && weight.dim() == 2) || (members && weight.dim() == 3 && weight.size(0) == K),
              "rate_network: drive [T, B, N] with weight [N, N], or drive [K, T, B, N] with weight [K, N, N] "
              "expected, got ",
              drive.sizes(), ", ", weight.sizes());
  TORCH_CHECK(weight.size(-1) == N && weight.size(-2) == N, "rate_network: weight must be [", N, ", ", N, "], got ",
              weight.sizes());
  TORCH_CHECK(alpha.dim() == 0 || (!members && alpha.dim() == 1 && alpha.size(0) == N), "rate_network: alpha 0-dim",
              members ? "" : " or [N]", " expected, got ", alpha.sizes());
  TORCH_CHECK(!noise.defined() || noise.sizes() == drive.sizes(), "rate_network: noise must be shaped like drive");
  TORCH_CHECK(drive.is_cpu(), "rate_network: CPU tensors only (other devices use the per-step path)");
  // No noise travels as an empty tensor: autograd functions do not take undefined inputs.
  const auto no_noise = torch::empty({0}, drive.options());
  if (members) return RateNetworkFunction::apply(drive, weight, alpha, noise.defined() ? noise : no_noise, tanh, false);
  return RateNetworkFunction::apply(drive.unsqueeze(0), weight.unsqueeze(0), alpha,
                                    noise.defined() ? noise.unsqueeze(0) : no_noise, tanh, false)
      .squeeze(0);
}

Tensor rate_network_last(const Tensor& drive, const Tensor& weight, const Tensor& alpha, bool tanh) {
  TORCH_CHECK(drive.dim() == 4 && weight.dim() == 3 && weight.size(0) == drive.size(0) &&
                  weight.size(1) == drive.size(3) && weight.size(2) == drive.size(3) && alpha.dim() == 0,
              "rate_network_last: drive [K, T, B, N], weight [K, N, N] and a 0-dim alpha expected, got ", drive.sizes(),
              ", ", weight.sizes(), ", ", alpha.sizes());
  TORCH_CHECK(drive.is_cpu() && drive.size(1) > 0, "rate_network_last: CPU tensors and T > 0 only");
  return RateNetworkFunction::apply(drive, weight, alpha, torch::empty({0}, drive.options()), tanh, true);
}

}  // namespace sernn
