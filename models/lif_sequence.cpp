#include "models/lif_sequence.h"

#include <ATen/Parallel.h>

namespace sernn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// One forward step on raw memory: reset from v_prev, new membrane, spike.
template <class T>
void forward_step_cpu(const T* v_prev, const T* cur, const T* beta, T* v, T* s, int64_t B, int64_t N, T thr,
                      ResetMode mode) {
  at::parallel_for(0, B * N, 16384, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T b = beta[i % N], vp = v_prev[i];
      const T r = vp > thr ? T(1) : T(0);
      T vn;
      switch (mode) {
        case ResetMode::Subtract: vn = b * vp + cur[i] - r * thr; break;
        case ResetMode::SubtractDecayed: vn = b * (vp - r * thr) + cur[i]; break;
        case ResetMode::Zero: vn = (b * vp + cur[i]) * (T(1) - r); break;
        default: vn = b * vp + cur[i]; break;
      }
      v[i] = vn;
      s[i] = vn > thr ? T(1) : T(0);
    }
  });
}

// One backward step on raw memory. In: gs (dL/ds_t incl. the recurrent path), v_t, v_{t-1},
// gv_next (dL/dv_{t+1}). Out: gv (dL/dv_t), gcur (dL/dcur_t), and per-neuron dL/dβ added to gbeta_rows
// (one row per batch element to stay race-free).
template <class T>
void backward_step_cpu(const T* gs, const T* v, const T* v_prev, const T* gv_next, const T* beta, T* gv, T* gcur,
                       T* gbeta_rows, int64_t B, int64_t N, T thr, T slope, ResetMode mode, bool last) {
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi)
      for (int64_t n = 0; n < N; ++n) {
        const int64_t i = bi * N + n;
        const T bt = beta[n];
        const T x = v[i] - thr;
        const T d = slope * (x < 0 ? -x : x) + T(1);
        T g = gs[i] / (d * d);
        if (!last) {
          const T r_next = v[i] > thr ? T(1) : T(0);  // reset used by step t+1
          g += gv_next[i] * (mode == ResetMode::Zero ? bt * (T(1) - r_next) : bt);
        }
        gv[i] = g;
        const T vp = v_prev[i];
        const T r = vp > thr ? T(1) : T(0);
        switch (mode) {
          case ResetMode::Subtract:
          case ResetMode::None:
            gcur[i] = g;
            gbeta_rows[i] += g * vp;
            break;
          case ResetMode::SubtractDecayed:
            gcur[i] = g;
            gbeta_rows[i] += g * (vp - r * thr);
            break;
          case ResetMode::Zero:
            gcur[i] = g * (T(1) - r);
            gbeta_rows[i] += g * vp * (T(1) - r);
            break;
        }
      }
  });
}

// The same two steps with tensor ops, for devices other than the CPU.
void forward_step_ops(const Tensor& v_prev, const Tensor& cur, const Tensor& beta, Tensor v, Tensor s, double thr,
                      ResetMode mode) {
  const auto r = v_prev.gt(thr).to(cur.scalar_type());
  Tensor vn;
  switch (mode) {
    case ResetMode::Subtract: vn = beta * v_prev + cur - r * thr; break;
    case ResetMode::SubtractDecayed: vn = beta * (v_prev - r * thr) + cur; break;
    case ResetMode::Zero: vn = (beta * v_prev + cur) * (1 - r); break;
    default: vn = beta * v_prev + cur; break;
  }
  v.copy_(vn);
  s.copy_(vn.gt(thr));
}

void backward_step_ops(const Tensor& gs, const Tensor& v, const Tensor& v_prev, const Tensor& gv_next,
                       const Tensor& beta, Tensor gv, Tensor gcur, Tensor gbeta_rows, double thr, double slope,
                       ResetMode mode, bool last) {
  auto g = gs / (slope * (v - thr).abs() + 1).pow(2);
  if (!last) {
    const auto r_next = v.gt(thr).to(v.scalar_type());
    g = g + gv_next * (mode == ResetMode::Zero ? beta * (1 - r_next) : beta);
  }
  gv.copy_(g);
  const auto r = v_prev.gt(thr).to(v.scalar_type());
  switch (mode) {
    case ResetMode::Subtract:
    case ResetMode::None:
      gcur.copy_(g);
      gbeta_rows.add_(g * v_prev);
      break;
    case ResetMode::SubtractDecayed:
      gcur.copy_(g);
      gbeta_rows.add_(g * (v_prev - r * thr));
      break;
    case ResetMode::Zero:
      gcur.copy_(g * (1 - r));
      gbeta_rows.add_(g * v_prev * (1 - r));
      break;
  }
}

class LifSequenceFunction : public torch::autograd::Function<LifSequenceFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& drive, const Tensor& weight, const Tensor& beta,
                        double thr, double slope, int64_t mode_int) {
    const auto mode = static_cast<ResetMode>(mode_int);
    const int64_t T = drive.size(0), B = drive.size(1), N = drive.size(2);
    const auto beta_c = beta.clamp(0.0, 1.0).contiguous();
    auto mem = torch::empty({T, B, N}, drive.options());
    auto spk = torch::empty({T, B, N}, drive.options());
    auto zeros = torch::zeros({B, N}, drive.options());
    const auto wt = weight.t();
    const bool cpu = drive.is_cpu();
    for (int64_t t = 0; t < T; ++t) {
      const auto v_prev = t ? mem[t - 1] : zeros;
      const auto cur = t ? torch::addmm(drive[t], spk[t - 1], wt) : drive[t].contiguous();
      if (cpu) {
        AT_DISPATCH_FLOATING_TYPES(drive.scalar_type(), "lif_forward", [&] {
          forward_step_cpu<scalar_t>(v_prev.data_ptr<scalar_t>(), cur.data_ptr<scalar_t>(), beta_c.data_ptr<scalar_t>(),
                                     mem[t].data_ptr<scalar_t>(), spk[t].data_ptr<scalar_t>(), B, N,
                                     static_cast<scalar_t>(thr), mode);
        });
      } else {
        forward_step_ops(v_prev, cur, beta_c, mem[t], spk[t], thr, mode);
      }
    }
    ctx->save_for_backward({mem, spk, weight, beta});
    ctx->saved_data["thr"] = thr;
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["mode"] = mode_int;
    return spk;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &mem = saved[0], &spk = saved[1], &weight = saved[2], &beta = saved[3];
    const double thr = ctx->saved_data["thr"].toDouble(), slope = ctx->saved_data["slope"].toDouble();
    const auto mode = static_cast<ResetMode>(ctx->saved_data["mode"].toInt());
    const int64_t T = mem.size(0), B = mem.size(1), N = mem.size(2);
    const auto grad_spk = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(spk);
    const auto beta_c = beta.clamp(0.0, 1.0).contiguous();
    auto gcur = torch::empty({T, B, N}, mem.options());
    auto gv = torch::zeros({B, N}, mem.options()), gv_next = torch::zeros({B, N}, mem.options());
    auto gbeta_rows = torch::zeros({B, N}, mem.options());
    auto zeros = torch::zeros({B, N}, mem.options());
    const bool cpu = mem.is_cpu();
    for (int64_t t = T - 1; t >= 0; --t) {
      // dL/ds_t: direct, plus through cur_{t+1} = drive + s_t W^T.
      const auto gs = t + 1 < T ? torch::addmm(grad_spk[t], gcur[t + 1], weight) : grad_spk[t];
      const auto v_prev = t ? mem[t - 1] : zeros;
      const bool last = t + 1 == T;
      if (cpu) {
        AT_DISPATCH_FLOATING_TYPES(mem.scalar_type(), "lif_backward", [&] {
          backward_step_cpu<scalar_t>(gs.data_ptr<scalar_t>(), mem[t].data_ptr<scalar_t>(), v_prev.data_ptr<scalar_t>(),
                                      gv_next.data_ptr<scalar_t>(), beta_c.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(),
                                      gcur[t].data_ptr<scalar_t>(), gbeta_rows.data_ptr<scalar_t>(), B, N,
                                      static_cast<scalar_t>(thr), static_cast<scalar_t>(slope), mode, last);
        });
      } else {
        backward_step_ops(gs, mem[t], v_prev, gv_next, beta_c, gv, gcur[t], gbeta_rows, thr, slope, mode, last);
      }
      std::swap(gv, gv_next);
    }
    // dW = Σ_t gcur_t^T s_{t-1}: one GEMM over all steps.
    Tensor gw = T > 1 ? torch::mm(gcur.slice(0, 1).reshape({-1, N}).t(), spk.slice(0, 0, T - 1).reshape({-1, N}))
                      : torch::zeros_like(weight);
    // clamp(0, 1) passes gradient only inside the interval (as torch's clamp backward).
    auto gbeta = gbeta_rows.sum(0) * beta.ge(0).logical_and(beta.le(1)).to(beta.scalar_type());
    return {gcur, gw, gbeta, Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor lif_sequence(const Tensor& drive, const Tensor& weight, const Tensor& beta, double threshold, double slope,
                    ResetMode reset) {
  TORCH_CHECK(drive.dim() == 3 && weight.dim() == 2 && weight.size(0) == drive.size(2) && weight.size(1) == drive.size(2) &&
                  beta.dim() == 1 && beta.size(0) == drive.size(2),
              "lif_sequence: drive [T, B, N], weight [N, N], beta [N] expected, got ", drive.sizes(), ", ",
              weight.sizes(), ", ", beta.sizes());
  return LifSequenceFunction::apply(drive.contiguous(), weight, beta.to(drive.scalar_type()), threshold, slope,
                                    static_cast<int64_t>(reset));
}

}  // namespace sernn
