#include "models/lif_sequence.h"

#include <ATen/Parallel.h>

namespace sernn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// One forward step on raw memory. The recurrent input W s_{t-1} is gathered from the rows of
// W^T (wt, [N, N]) of the neurons that spiked (spikes are sparse and exactly 0/1), added to the
// drive; then reset from v_prev, new membrane, spike.
template <class T>
void forward_step_cpu(const T* v_prev, const T* s_prev, const T* drive, const T* wt, const T* beta, T* v, T* s,
                      int64_t B, int64_t N, T thr, ResetMode mode) {
  at::parallel_for(0, B, 8, [&](int64_t b0, int64_t b1) {
    std::vector<T> cur(N);
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t off = bi * N;
      // Sum the recurrent terms first, in presynaptic order, then add the drive: the order a
      // GEMM accumulates in, so this path rounds like the reference's addmm.
      std::fill(cur.begin(), cur.end(), T(0));
      if (s_prev)
        for (int64_t j = 0; j < N; ++j)
          if (s_prev[off + j] != T(0)) {
            const T* row = wt + j * N;
            for (int64_t n = 0; n < N; ++n) cur[n] += row[n];
          }
      for (int64_t n = 0; n < N; ++n) cur[n] = drive[off + n] + cur[n];
      for (int64_t n = 0; n < N; ++n) {
        const int64_t i = off + n;
        const T b = beta[n], vp = v_prev[i];
        const T r = vp > thr ? T(1) : T(0);
        T vn;
        switch (mode) {
          case ResetMode::Subtract: vn = b * vp + cur[n] - r * thr; break;
          case ResetMode::SubtractDecayed: vn = b * (vp - r * thr) + cur[n]; break;
          case ResetMode::Zero: vn = (b * vp + cur[n]) * (T(1) - r); break;
          default: vn = b * vp + cur[n]; break;
        }
        v[i] = vn;
        s[i] = vn > thr ? T(1) : T(0);
      }
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
                        double thr, double slope, int64_t mode_int, bool drive_is_scratch) {
    const auto mode = static_cast<ResetMode>(mode_int);
    const int64_t T = drive.size(0), B = drive.size(1), N = drive.size(2);
    const auto beta_c = beta.clamp(0.0, 1.0).contiguous();
    // A scratch drive (nobody reads it after this call) becomes the membrane buffer: step t
    // reads drive_t before it writes mem_t in the same place. One [T, B, N] buffer less.
    auto mem = drive_is_scratch && drive.is_contiguous() ? drive : torch::empty({T, B, N}, drive.options());
    auto spk = torch::empty({T, B, N}, drive.options());
    auto zeros = torch::zeros({B, N}, drive.options());
    const bool cpu = drive.is_cpu();
    const auto wt = weight.t();
    const auto wt_c = cpu ? wt.contiguous() : wt;
    for (int64_t t = 0; t < T; ++t) {
      const auto v_prev = t ? mem[t - 1] : zeros;
      if (cpu) {
        AT_DISPATCH_FLOATING_TYPES(drive.scalar_type(), "lif_forward", [&] {
          forward_step_cpu<scalar_t>(v_prev.data_ptr<scalar_t>(), t ? spk[t - 1].data_ptr<scalar_t>() : nullptr,
                                     drive[t].data_ptr<scalar_t>(), wt_c.data_ptr<scalar_t>(),
                                     beta_c.data_ptr<scalar_t>(), mem[t].data_ptr<scalar_t>(),
                                     spk[t].data_ptr<scalar_t>(), B, N, static_cast<scalar_t>(thr), mode);
        });
      } else {
        const auto cur = t ? torch::addmm(drive[t], spk[t - 1], wt) : drive[t];
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
    // gcur_t overwrites mem_t in place: step t reads mem_t and mem_{t-1} before writing gcur_t,
    // and no later step needs mem_t. This saves a [T, B, N] buffer but consumes the saved state,
    // so the backward can run only once.
    TORCH_CHECK(!ctx->saved_data.count("consumed"),
                "lif_sequence: backward called twice (retain_graph is not supported by the fast LIF path)");
    ctx->saved_data["consumed"] = true;
    auto gcur = mem;
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
    // dW = Σ_t gcur_t^T s_{t-1}: one GEMM over all steps, or on the CPU a sum over the spikes only.
    Tensor gw;
    if (T < 2) {
      gw = torch::zeros_like(weight);
    } else if (cpu) {
      auto gwt = torch::zeros({N, N}, mem.options());  // row j = dL/dW[:, j]
      AT_DISPATCH_FLOATING_TYPES(mem.scalar_type(), "lif_weight_grad", [&] {
        const scalar_t* sp = spk.data_ptr<scalar_t>();
        const scalar_t* gp = gcur.data_ptr<scalar_t>();
        scalar_t* out = gwt.data_ptr<scalar_t>();
        const int64_t rows = (T - 1) * B;
        // Threads own disjoint output columns, so no two write the same element.
        at::parallel_for(0, N, 16, [&](int64_t n0, int64_t n1) {
          for (int64_t r = 0; r < rows; ++r) {
            const scalar_t* s_row = sp + r * N;            // s_{t-1}, batch b
            const scalar_t* g_row = gp + (r + B) * N;      // gcur_t, batch b
            for (int64_t j = 0; j < N; ++j)
              if (s_row[j] != scalar_t(0))
                for (int64_t n = n0; n < n1; ++n) out[j * N + n] += g_row[n];
          }
        });
      });
      gw = gwt.t();
    } else {
      gw = torch::mm(gcur.slice(0, 1).reshape({-1, N}).t(), spk.slice(0, 0, T - 1).reshape({-1, N}));
    }
    // clamp(0, 1) passes gradient only inside the interval (as torch's clamp backward).
    auto gbeta = gbeta_rows.sum(0) * beta.ge(0).logical_and(beta.le(1)).to(beta.scalar_type());
    return {gcur, gw, gbeta, Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor lif_sequence(const Tensor& drive, const Tensor& weight, const Tensor& beta, double threshold, double slope,
                    ResetMode reset, bool drive_is_scratch) {
  TORCH_CHECK(drive.dim() == 3 && weight.dim() == 2 && weight.size(0) == drive.size(2) && weight.size(1) == drive.size(2) &&
                  beta.dim() == 1 && beta.size(0) == drive.size(2),
              "lif_sequence: drive [T, B, N], weight [N, N], beta [N] expected, got ", drive.sizes(), ", ",
              weight.sizes(), ", ", beta.sizes());
  return LifSequenceFunction::apply(drive.contiguous(), weight, beta.to(drive.scalar_type()), threshold, slope,
                                    static_cast<int64_t>(reset), drive_is_scratch);
}

}  // namespace sernn

namespace sernn {

namespace {

/// y = x W^T + b over the nonzero entries of x [R, I] only (x gets no gradient). The forward
/// builds a CSR view of x once and keeps it for the backward.
class SparseProjection : public torch::autograd::Function<SparseProjection> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    const int64_t R = x.size(0), I = x.size(1), O = weight.size(0);
    const auto xc = x.contiguous();
    const auto wt = weight.t().contiguous();  // [I, O]: one contiguous row per input unit
    Tensor out = torch::empty({R, O}, x.options());
    Tensor counts = torch::zeros({R + 1}, torch::kInt64), cols, vals;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_projection_forward", [&] {
      const scalar_t* xp = xc.data_ptr<scalar_t>();
      const scalar_t* w = wt.data_ptr<scalar_t>();
      const scalar_t* bp = bias.contiguous().data_ptr<scalar_t>();
      scalar_t* y = out.data_ptr<scalar_t>();
      auto* cnt = counts.data_ptr<int64_t>();
      // One pass over x: each chunk of rows gathers its nonzeros and accumulates its outputs.
      const int64_t chunk = 256, chunks = (R + chunk - 1) / chunk;
      std::vector<std::vector<int64_t>> chunk_cols(chunks);
      std::vector<std::vector<scalar_t>> chunk_vals(chunks);
      at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          auto& cc = chunk_cols[c];
          auto& cv = chunk_vals[c];
          for (int64_t r = c * chunk; r < std::min(R, (c + 1) * chunk); ++r) {
            scalar_t* yr = y + r * O;
            for (int64_t o = 0; o < O; ++o) yr[o] = bp[o];
            const scalar_t* xr = xp + r * I;
            int64_t n = 0;
            for (int64_t i = 0; i < I; ++i) {
              const scalar_t v = xr[i];
              if (v == scalar_t(0)) continue;
              cc.push_back(i), cv.push_back(v), ++n;
              const scalar_t* wr = w + i * O;
              for (int64_t o = 0; o < O; ++o) yr[o] += v * wr[o];
            }
            cnt[r + 1] = n;
          }
        }
      });
      for (int64_t r = 0; r < R; ++r) cnt[r + 1] += cnt[r];
      cols = torch::empty({cnt[R]}, torch::kInt64);
      vals = torch::empty({cnt[R]}, x.options());
      int64_t k = 0;
      for (int64_t c = 0; c < chunks; ++c) {
        std::copy(chunk_cols[c].begin(), chunk_cols[c].end(), cols.data_ptr<int64_t>() + k);
        std::copy(chunk_vals[c].begin(), chunk_vals[c].end(), vals.data_ptr<scalar_t>() + k);
        k += static_cast<int64_t>(chunk_cols[c].size());
      }
    });
    ctx->save_for_backward({counts, cols, vals});
    ctx->saved_data["inputs"] = I;
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &counts = saved[0], &cols = saved[1], &vals = saved[2];
    const int64_t I = ctx->saved_data["inputs"].toInt();
    const auto g = grads[0].contiguous();
    const int64_t R = g.size(0), O = g.size(1);
    auto gwt = torch::zeros({I, O}, g.options());
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "sparse_projection_backward", [&] {
      const auto* cnt = counts.data_ptr<int64_t>();
      const auto* cp = cols.data_ptr<int64_t>();
      const auto* vp = vals.data_ptr<scalar_t>();
      const scalar_t* gp = g.data_ptr<scalar_t>();
      scalar_t* out = gwt.data_ptr<scalar_t>();
      // Threads own disjoint column ranges of dW^T, so no two write the same element.
      at::parallel_for(0, O, 16, [&](int64_t o0, int64_t o1) {
        for (int64_t r = 0; r < R; ++r)
          for (int64_t k = cnt[r]; k < cnt[r + 1]; ++k) {
            scalar_t* row = out + cp[k] * O;
            const scalar_t v = vp[k];
            const scalar_t* gr = gp + r * O;
            for (int64_t o = o0; o < o1; ++o) row[o] += v * gr[o];
          }
      });
    });
    return {Tensor(), gwt.t(), g.sum(0)};
  }
};

}  // namespace

torch::Tensor input_projection(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               double max_density) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), O = weight.size(0);
  const auto flat = x.reshape({T * B, I});
  if (x.is_cpu() && flat.numel() > 0 && !x.requires_grad() && max_density > 0) {
    // Density from a strided sample of rows: cheap, and only decides which kernel runs.
    const auto sample = flat.slice(0, 0, T * B, std::max<int64_t>(1, T * B / 256));
    if (sample.ne(0).sum().item<double>() < max_density * static_cast<double>(sample.numel()))
      return SparseProjection::apply(flat, weight, bias).view({T, B, O});
  }
  return torch::addmm(bias, flat, weight.t()).view({T, B, O});
}

}  // namespace sernn
