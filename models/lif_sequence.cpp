#include "models/lif_sequence.h"

#include "core/parallel.h"
#include "models/rate_sequence.h"

#include <algorithm>
#include <deque>
#include <functional>

#include <ATen/record_function.h>

#ifdef SERNN_HAS_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "models/cuda/lif_kernels.h"
#endif

namespace sernn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;
using Spike = uint8_t;

// One forward step on raw memory, for batch rows [b0, b1): the recurrent input W s_{t-1} is
// gathered from the rows of W^T (wt, [N, N]) of the neurons that spiked, added to the drive;
// then reset from v_prev, new membrane, spike, spike count; then the readout current gathered
// from the rows of readout.weight^T (wot, [N, C]) and the leaky readout membrane. `cur` and `co`
// are the caller's scratch rows (N and C).
template <class T>
void forward_step_cpu(const T* v_prev, const Spike* s_prev, const T* drive, const T* wt, const T* beta, T* v, Spike* s,
                      T* counts, const T* wot, const T* bo, const T* rb, const T* u_prev, T* u, int64_t b0, int64_t b1,
                      int64_t N, int64_t C, T thr, ResetMode mode, T* cur, T* co) {
  for (int64_t bi = b0; bi < b1; ++bi) {
    const int64_t off = bi * N;
    // Sum the recurrent terms first, in presynaptic order, then add the drive: the order a
    // GEMM accumulates in, so this path rounds like the reference's addmm.
    std::fill(cur, cur + N, T(0));
    if (s_prev)
      for (int64_t j = 0; j < N; ++j)
        if (s_prev[off + j]) {
          const T* row = wt + j * N;
          for (int64_t n = 0; n < N; ++n) cur[n] += row[n];
        }
    std::fill(co, co + C, T(0));
    for (int64_t n = 0; n < N; ++n) {
      const int64_t i = off + n;
      const T vn = lif::membrane(beta[n], v_prev ? v_prev[i] : T(0), drive[i] + cur[n], thr, mode);
      v[i] = vn;
      s[i] = lif::fires(vn, thr);
      if (s[i]) {
        counts[i] += T(1);
        const T* row = wot + n * C;
        for (int64_t k = 0; k < C; ++k) co[k] += row[k];
      }
    }
    for (int64_t k = 0; k < C; ++k) {
      const int64_t i = bi * C + k;
      u[i] = lif::readout(rb[k], u_prev ? u_prev[i] : T(0), co[k] + bo[k]);
    }
  }
}

// One backward step on raw memory, for batch rows [b0, b1). In: gs (dL/ds_t incl. the recurrent
// path), v_t, v_{t-1}, gv_next (dL/dv_{t+1}). Out: gv (dL/dv_t), gcur (dL/dcur_t), and per-neuron
// dL/dβ added to gbeta_rows (one row per batch element). All pointers address row 0 of [B, N].
template <class T>
void backward_step_cpu(const T* gs, const T* v, const T* v_prev, const T* gv_next, const T* beta, T* gv, T* gcur,
                       T* gbeta_rows, int64_t b0, int64_t b1, int64_t N, T thr, T slope, ResetMode mode, bool last) {
  for (int64_t bi = b0; bi < b1; ++bi)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t i = bi * N + n;
      const auto g = lif::step_backward(gs[i], v[i], v_prev ? v_prev[i] : T(0), last ? T(0) : gv_next[i], beta[n], thr,
                                        slope, mode, last);
      gv[i] = g.gv;
      gcur[i] = g.gcur;
      gbeta_rows[i] += g.gbeta;
    }
}

// The hidden step with tensor ops, for devices other than the CPU. Writes v and s (uint8).
void forward_step_ops(const Tensor& v_prev, const Tensor& cur, const Tensor& beta, Tensor v, Tensor s, double thr,
                      ResetMode mode) {
  const auto r = v_prev.gt(thr).to(cur.scalar_type());
  const Tensor vn = lif::membrane_update(beta, v_prev, cur, r, thr, mode);
  v.copy_(vn);
  s.copy_(vn.gt(thr));
}

void backward_step_ops(const Tensor& gs, const Tensor& v, const Tensor& v_prev, const Tensor& gv_next,
                       const Tensor& beta, Tensor gv, Tensor gcur, Tensor gbeta_rows, double thr, double slope,
                       ResetMode mode, bool last) {
  auto g = gs / (slope * (v - thr).abs() + 1).pow(2);
  if (!last) {
    const auto r_next = v.gt(thr).to(v.scalar_type());
    g = g + gv_next * (lif::zeroes(mode) ? beta * (1 - r_next) : beta);
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
    case ResetMode::ZeroImmediate:
      gcur.copy_(g);
      gbeta_rows.add_(g * v_prev * (1 - r));
      break;
  }
}

// Runs fn(k) for every member k on the pool, as one recorded operator `name`: on the CPU the
// per-member LibTorch calls inside are pieces of one sernn operator (as blocked_matmul's), so a
// step's operator count does not grow with K (the ensemble operator-count test).
void for_members(const char* name, int64_t K, const std::function<void(int64_t)>& fn) {
  RECORD_FUNCTION(name, std::vector<c10::IValue>());
  parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
    torch::NoGradGuard no_grad;             // worker threads start with grad mode on
    at::DisableRecordFunctionGuard inside;  // pieces, not operators of their own
    for (int64_t k = k0; k < k1; ++k) fn(k);
  });
}

// x [K, R, X] -> [K, X]: out[k] = x[k].sum(0), member by member, each sum of the shape a network
// alone has: a reduction over a dimension of the stacked tensor may round differently (issue 26).
Tensor member_sums(const Tensor& x) {
  auto out = torch::empty({x.size(0), x.size(2)}, x.options());
  for_members("sernn::member_sums", x.size(0), [&](int64_t k) {
    auto ok = out[k];
    torch::sum_out(ok, x[k], 0);
  });
  return out;
}

// Σ_r g[k, r]^T s[k, r] -> [K, X, N] for g [K, R, X] (float) and spikes s [K, R, N] (uint8). On
// the CPU a sum of g's rows over the spikes only, each output element summed over r in order (the
// same bits for a member alone and at any thread count); elsewhere batched GEMMs over chunks of
// rows, so the float copy of the spikes stays small.
Tensor member_spike_gemm(const Tensor& g, const Tensor& s) {
  const int64_t K = g.size(0), R = g.size(1), X = g.size(2), N = s.size(2);
  if (!g.is_cpu()) {
    auto out = torch::zeros({K, X, N}, g.options());
    const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(K * N, 1));
    for (int64_t r0 = 0; r0 < R; r0 += chunk) {
      const int64_t r1 = std::min(R, r0 + chunk);
      out.baddbmm_(g.slice(1, r0, r1).transpose(1, 2), s.slice(1, r0, r1).to(g.scalar_type()));
    }
    return out;
  }
  RECORD_FUNCTION("sernn::spike_gemm", std::vector<c10::IValue>({g, s}));
  auto out_t = torch::zeros({K, N, X}, g.options());  // row j of member k = column j of its result
  // Members' rows may sit apart (a slice over time of [K, T, B, X]); within a member contiguous.
  const auto gc = g.stride(2) == 1 && g.stride(1) == X ? g : g.contiguous();
  const auto sc = s.stride(2) == 1 && s.stride(1) == N ? s : s.contiguous();
  const int64_t g_member = gc.stride(0), s_member = sc.stride(0);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "spike_gemm", [&] {
    const scalar_t* g_all = gc.data_ptr<scalar_t>();
    const Spike* s_all = sc.data_ptr<Spike>();
    scalar_t* out_all = out_t.data_ptr<scalar_t>();
    // Threads own disjoint ranges of (member, presynaptic neuron j), so no two write the same row.
    parallel_for(0, K * N, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1;) {
        const int64_t k = i / N, j0 = i % N, j1 = std::min(N, j0 + (i1 - i));
        const scalar_t* gp = g_all + k * g_member;
        const Spike* sp = s_all + k * s_member;
        scalar_t* out = out_all + k * N * X;
        for (int64_t r = 0; r < R; ++r) {
          const Spike* s_row = sp + r * N;
          const scalar_t* g_row = gp + r * X;
          for (int64_t j = j0; j < j1; ++j)
            if (s_row[j]) {
              scalar_t* o = out + j * X;
              for (int64_t x = 0; x < X; ++x) o[x] += g_row[x];
            }
        }
        i += j1 - j0;
      }
    });
  });
  return out_t.transpose(1, 2);
}

#ifdef SERNN_HAS_CUDA
// A kernel's shared memory against the current device's per-block limit: a clear error instead
// of the launch's "invalid argument" (e.g. float64 at large N on a GPU with 99 KB per block).
void check_shared_memory(const char* kernel, size_t bytes, int64_t N, const Tensor& x) {
  const size_t limit = at::cuda::getCurrentDeviceProperties()->sharedMemPerBlockOptin;
  TORCH_CHECK(bytes <= limit, "lif_network: the CUDA ", kernel, " kernel needs ", bytes,
              " bytes of shared memory per block for ", N, " hidden neurons in ", x.scalar_type(), "; ", x.device(),
              " allows ", limit, " (use fewer neurons or float32)");
}

// The fused CUDA kernels (models/cuda/lif_kernels.h): one launch per direction for all K members
// on the current stream, no host synchronisation. Shapes as forward_cpu's.
void launch_cuda_forward(const Tensor& drive, const Tensor& weight, const Tensor& beta_c, const Tensor& w_out,
                         const Tensor& b_out, const Tensor& rb, const Tensor& mem, const Tensor& spk,
                         const Tensor& counts, const Tensor& rmem, double thr, ResetMode mode) {
  const int64_t K = drive.size(0), T = drive.size(1), B = drive.size(2), N = drive.size(3), C = w_out.size(1);
  TORCH_CHECK(N <= cuda::kMaxNeurons, "lif_network: the CUDA kernels take at most ", cuda::kMaxNeurons,
              " hidden neurons, got ", N);
  TORCH_CHECK(K <= cuda::kMaxMembers, "lif_network: the CUDA kernels take at most ", cuda::kMaxMembers,
              " members per call, got ", K);
  const c10::cuda::CUDAGuard on_device(drive.device());  // cuda:N launches on N, on N's current stream
  check_shared_memory("forward", cuda::forward_shared_bytes(N), N, drive);
  const auto wt = weight.detach().transpose(1, 2).contiguous(), wot = w_out.detach().transpose(1, 2).contiguous();
  const auto bo = b_out.detach().contiguous();
  AT_DISPATCH_FLOATING_TYPES(drive.scalar_type(), "lif_forward_cuda", [&] {
    const auto st = cuda::lif_forward<scalar_t>(
        drive.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), beta_c.data_ptr<scalar_t>(), wot.data_ptr<scalar_t>(),
        bo.data_ptr<scalar_t>(), rb.data_ptr<scalar_t>(), mem.data_ptr<scalar_t>(), spk.data_ptr<Spike>(),
        counts.data_ptr<scalar_t>(), rmem.data_ptr<scalar_t>(), K, T, B, N, C, static_cast<scalar_t>(thr), mode,
        c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(st == cudaSuccess, "lif_network: CUDA forward kernel: ", cudaGetErrorString(st));
  });
}

void launch_cuda_backward(const Tensor& g_rm, const Tensor& g_counts, const Tensor& weight, const Tensor& w_out,
                          const Tensor& beta_c, const Tensor& rb, const Tensor& mem, const Tensor& gco,
                          const Tensor& gcur, const Tensor& gbeta_rows, double thr, double slope, ResetMode mode) {
  const int64_t K = mem.size(0), T = mem.size(1), B = mem.size(2), N = mem.size(3), C = w_out.size(1);
  const c10::cuda::CUDAGuard on_device(mem.device());  // cuda:N launches on N, on N's current stream
  check_shared_memory("backward", cuda::backward_shared_bytes(N, C, mem.element_size()), N, mem);
  const auto w = weight.detach().contiguous(), wo = w_out.detach().contiguous();
  auto gv = torch::empty({K, B, N}, mem.options());
  AT_DISPATCH_FLOATING_TYPES(mem.scalar_type(), "lif_backward_cuda", [&] {
    const auto st = cuda::lif_backward<scalar_t>(
        g_rm.data_ptr<scalar_t>(), g_counts.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), wo.data_ptr<scalar_t>(),
        beta_c.data_ptr<scalar_t>(), rb.data_ptr<scalar_t>(), mem.data_ptr<scalar_t>(), gco.data_ptr<scalar_t>(),
        gcur.data_ptr<scalar_t>(), gbeta_rows.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(), K, T, B, N, C,
        static_cast<scalar_t>(thr), static_cast<scalar_t>(slope), mode, c10::cuda::getCurrentCUDAStream());
    TORCH_CHECK(st == cudaSuccess, "lif_network: CUDA backward kernel: ", cudaGetErrorString(st));
  });
}
#endif  // SERNN_HAS_CUDA

// The forward on the CPU. Shapes: drive, mem [K, T, B, N]; spk [K, T, B, N]; counts [K, B, N];
// rmem [K, T, B, C]; weight [K, N, N]; w_out [K, C, N]; beta_c [K, N]; b_out, rb [K, C].
void forward_cpu(const Tensor& drive, const Tensor& weight, const Tensor& beta_c, const Tensor& w_out,
                 const Tensor& b_out, const Tensor& rb, const Tensor& mem, const Tensor& spk, const Tensor& counts,
                 const Tensor& rmem, double thr, ResetMode mode) {
  const int64_t K = drive.size(0), T = drive.size(1), B = drive.size(2), N = drive.size(3), C = w_out.size(1);
  const auto wt = weight.transpose(1, 2).contiguous(), wot = w_out.transpose(1, 2).contiguous();
  const auto bo = b_out.contiguous();
  AT_DISPATCH_FLOATING_TYPES(drive.scalar_type(), "lif_forward", [&] {
    const scalar_t *wt_p = wt.data_ptr<scalar_t>(), *wot_p = wot.data_ptr<scalar_t>();
    const scalar_t *bo_p = bo.data_ptr<scalar_t>(), *rb_p = rb.data_ptr<scalar_t>();
    const scalar_t *beta_p = beta_c.data_ptr<scalar_t>(), *drive_p = drive.data_ptr<scalar_t>();
    scalar_t *mem_p = mem.data_ptr<scalar_t>(), *rm_p = rmem.data_ptr<scalar_t>();
    scalar_t* counts_p = counts.data_ptr<scalar_t>();
    Spike* spk_p = spk.data_ptr<Spike>();
    const int64_t BN = B * N, BC = B * C;
    // Batch elements are independent: each piece (a member's block of rows, core/parallel.h) runs
    // the whole time loop, so there is no barrier per step.
    for_row_blocks(K, B, [&](int64_t k, int64_t b0, int64_t b1) {
      std::vector<scalar_t> cur(N), co(C);
      scalar_t *m = mem_p + k * T * BN, *u = rm_p + k * T * BC;
      Spike* s = spk_p + k * T * BN;
      const scalar_t* d = drive_p + k * T * BN;
      for (int64_t t = 0; t < T; ++t)
        forward_step_cpu<scalar_t>(t ? m + (t - 1) * BN : nullptr, t ? s + (t - 1) * BN : nullptr, d + t * BN,
                                   wt_p + k * N * N, beta_p + k * N, m + t * BN, s + t * BN, counts_p + k * BN,
                                   wot_p + k * N * C, bo_p + k * C, rb_p + k * C, t ? u + (t - 1) * BC : nullptr,
                                   u + t * BC, b0, b1, N, C, static_cast<scalar_t>(thr), mode, cur.data(), co.data());
    });
  });
}

// One member's forward with tensor ops, for devices other than the CPU and CUDA.
void forward_ops(const Tensor& drive, const Tensor& weight, const Tensor& beta_c, const Tensor& w_out,
                 const Tensor& b_out, const Tensor& rb, const Tensor& mem, const Tensor& spk, const Tensor& counts,
                 const Tensor& rmem, double thr, ResetMode mode) {
  const int64_t T = drive.size(0), B = drive.size(1), N = drive.size(2), C = w_out.size(0);
  const auto zeros = torch::zeros({B, N}, drive.options());
  const auto wt = weight.t(), wot = w_out.t();
  auto u = torch::zeros({B, C}, drive.options());
  for (int64_t t = 0; t < T; ++t) {
    const auto cur = t ? torch::addmm(drive[t], spk[t - 1].to(drive.scalar_type()), wt) : drive[t];
    forward_step_ops(t ? mem[t - 1] : zeros, cur, beta_c, mem[t], spk[t], thr, mode);
    const auto s = spk[t].to(drive.scalar_type());
    counts.add_(s);
    u = rb * u + torch::addmm(b_out, s, wot);
    rmem[t].copy_(u);
  }
}

// The backward on the CPU: the readout's and the hidden layer's reverse loops; writes gco
// [K, T, B, C], gcur (= mem, overwritten in place) and gbeta_rows [K, B, N].
void backward_cpu(const Tensor& g_rm, const Tensor& g_counts, const Tensor& weight, const Tensor& w_out,
                  const Tensor& beta_c, const Tensor& rb, const Tensor& mem, const Tensor& gco,
                  const Tensor& gbeta_rows, double thr, double slope, ResetMode mode) {
  const int64_t K = mem.size(0), T = mem.size(1), B = mem.size(2), N = mem.size(3), C = w_out.size(1);
  const auto w = weight.detach().contiguous(), wo = w_out.detach().contiguous();
  // Shared [K, B, N] buffers; each thread touches only its own rows.
  auto gs = torch::empty({K, B, N}, mem.options());
  auto gv_a = torch::zeros({K, B, N}, mem.options()), gv_b = torch::zeros({K, B, N}, mem.options());
  AT_DISPATCH_FLOATING_TYPES(mem.scalar_type(), "lif_backward", [&] {
    const int64_t BN = B * N, BC = B * C;
    // As in the forward, each piece runs the whole reverse loop for its rows; the two products
    // per step are single-threaded GEMMs of kRowBlock rows, the same shapes at any thread count.
    for_row_blocks(K, B, [&](int64_t k, int64_t b0, int64_t b1) {
      torch::NoGradGuard no_grad;  // worker threads start with grad mode on
      const auto gco_k = gco[k], gcur_k = mem[k], gc_rows = g_counts[k].slice(0, b0, b1), w_k = w[k], wo_k = wo[k];
      auto gs_rows = gs[k].slice(0, b0, b1);
      scalar_t* gco_p = gco_k.data_ptr<scalar_t>();
      const scalar_t* grm_p = g_rm.data_ptr<scalar_t>() + k * T * BC;
      const scalar_t* rb_p = rb.data_ptr<scalar_t>() + k * C;
      scalar_t* m_p = gcur_k.data_ptr<scalar_t>();
      scalar_t *gv = gv_a.data_ptr<scalar_t>() + k * BN, *gv_next = gv_b.data_ptr<scalar_t>() + k * BN;
      for (int64_t t = T - 1; t >= 0; --t) {
        for (int64_t i = b0 * C; i < b1 * C; ++i)
          gco_p[t * BC + i] = grm_p[t * BC + i] + (t + 1 < T ? rb_p[i % C] * gco_p[(t + 1) * BC + i] : 0);
        // dL/ds_t: through the spike count, the readout, and cur_{t+1} = drive + s_t W^T.
        torch::addmm_out(gs_rows, gc_rows, gco_k[t].slice(0, b0, b1), wo_k);
        if (t + 1 < T) gs_rows.addmm_(gcur_k[t + 1].slice(0, b0, b1), w_k);
        backward_step_cpu<scalar_t>(gs.data_ptr<scalar_t>() + k * BN, m_p + t * BN, t ? m_p + (t - 1) * BN : nullptr,
                                    gv_next, beta_c.data_ptr<scalar_t>() + k * N, gv, m_p + t * BN,
                                    gbeta_rows.data_ptr<scalar_t>() + k * BN, b0, b1, N, static_cast<scalar_t>(thr),
                                    static_cast<scalar_t>(slope), mode, t + 1 == T);
        std::swap(gv, gv_next);
      }
    });
  });
}

// One member's backward with tensor ops, for devices other than the CPU and CUDA.
void backward_ops(const Tensor& g_rm, const Tensor& g_counts, const Tensor& weight, const Tensor& w_out,
                  const Tensor& beta_c, const Tensor& rb, const Tensor& mem, const Tensor& gco,
                  const Tensor& gbeta_rows, double thr, double slope, ResetMode mode) {
  const int64_t T = mem.size(0), B = mem.size(1), N = mem.size(2);
  const auto zeros = torch::zeros({B, N}, mem.options());
  const auto& gcur = mem;
  auto gv = torch::zeros({B, N}, mem.options()), gv_next = torch::zeros({B, N}, mem.options());
  for (int64_t t = T - 1; t >= 0; --t) {
    gco[t].copy_(t + 1 < T ? g_rm[t] + rb * gco[t + 1] : g_rm[t]);
    auto gs = torch::addmm(g_counts, gco[t], w_out);
    if (t + 1 < T) gs.addmm_(gcur[t + 1], weight);
    backward_step_ops(gs, mem[t], t ? mem[t - 1] : zeros, gv_next, beta_c, gv, gcur[t], gbeta_rows, thr, slope, mode,
                      t + 1 == T);
    std::swap(gv, gv_next);
  }
}

// K networks' LIF layers and readouts over the whole sequence (shapes as forward_cpu): the
// autograd node over lif_members_forward and lif_members_backward.
class LifNetworkFunction : public torch::autograd::Function<LifNetworkFunction> {
 public:
  static tensor_list forward(AutogradContext* ctx, const Tensor& drive, const Tensor& weight, const Tensor& beta,
                             const Tensor& w_out, const Tensor& b_out, const Tensor& readout_beta, double thr,
                             double slope, int64_t mode_int, bool drive_is_scratch) {
    const auto mode = static_cast<ResetMode>(mode_int);
    auto out = lif_members_forward(drive, weight, beta, {w_out, b_out, readout_beta}, thr, mode, drive_is_scratch);
    ctx->save_for_backward({out.mem, out.spikes, weight, beta, w_out, readout_beta});
    ctx->saved_data["thr"] = thr;
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["mode"] = mode_int;
    ctx->mark_non_differentiable({out.spikes});
    return {out.readout_mem, out.spikes, out.counts};
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    TORCH_CHECK(!ctx->saved_data.count("consumed"),
                "lif_network: backward called twice (retain_graph is not supported by the fast LIF path)");
    ctx->saved_data["consumed"] = true;
    // The membranes are consumed: their buffer becomes the drive's gradient.
    auto g = lif_members_backward(grads[0], grads[2], saved[0], saved[1], saved[2], saved[3], saved[4], saved[5],
                                  ctx->saved_data["thr"].toDouble(), ctx->saved_data["slope"].toDouble(),
                                  static_cast<ResetMode>(ctx->saved_data["mode"].toInt()));
    return {g.drive,  g.weight, g.beta,   g.readout_weight, g.readout_bias,
            Tensor(), Tensor(), Tensor(), Tensor(),         Tensor()};
  }
};

void check_shapes(const Tensor& drive, const Tensor& weight, const Tensor& beta, const LifReadout& readout, int64_t d) {
  const int64_t N = drive.dim() == 3 + d ? drive.size(-1) : -1;
  const auto lead = drive.sizes().slice(0, d);
  const auto member = [&](const Tensor& x, int64_t rank) {
    return x.dim() == rank + d && x.sizes().slice(0, d) == lead;
  };
  TORCH_CHECK(N >= 0 && member(weight, 2) && weight.size(-2) == N && weight.size(-1) == N && member(beta, 1) &&
                  beta.size(-1) == N,
              "lif_network: drive [", d ? "K, " : "", "T, B, N], weight [", d ? "K, " : "", "N, N], beta [",
              d ? "K, " : "", "N] expected, got ", drive.sizes(), ", ", weight.sizes(), ", ", beta.sizes());
  const int64_t C = readout.weight.dim() == 2 + d ? readout.weight.size(-2) : -1;
  TORCH_CHECK(C >= 0 && member(readout.weight, 2) && readout.weight.size(-1) == N && member(readout.bias, 1) &&
                  readout.bias.size(-1) == C && readout.beta.numel() == C * (d ? lead[0] : 1),
              "lif_network: readout weight [", d ? "K, " : "", "C, N], bias [", d ? "K, " : "", "C], beta [",
              d ? "K, " : "", "C] expected, got ", readout.weight.sizes(), ", ", readout.bias.sizes(), ", ",
              readout.beta.sizes());
  // The kernels read every tensor through raw pointers on the drive's device.
  for (const Tensor* t : {&weight, &beta, &readout.weight, &readout.bias, &readout.beta})
    TORCH_CHECK(t->device() == drive.device(), "lif_network: all tensors on one device expected, the drive is on ",
                drive.device(), " and another tensor on ", t->device());
}

}  // namespace

LifMembersForward lif_members_forward(const Tensor& drive, const Tensor& weight, const Tensor& beta,
                                      const LifReadout& readout, double thr, ResetMode mode, bool drive_is_scratch) {
  const auto& w_out = readout.weight;
  const int64_t K = drive.size(0), T = drive.size(1), B = drive.size(2), N = drive.size(3), C = w_out.size(1);
  const auto beta_c = beta.clamp(0.0, 1.0).contiguous();
  const auto rb = readout.beta.clamp(0.0, 1.0).contiguous();
  // A scratch drive (nobody reads it after this call) becomes the membrane buffer: step t
  // reads drive_t before it writes mem_t in the same place. One [K, T, B, N] buffer less.
  auto mem = drive_is_scratch && drive.is_contiguous() ? drive : torch::empty({K, T, B, N}, drive.options());
  auto spk = torch::empty({K, T, B, N}, drive.options().dtype(torch::kUInt8));
  auto counts = torch::zeros({K, B, N}, drive.options());
  auto rmem = torch::empty({K, T, B, C}, drive.options());
  if (drive.is_cpu()) {
    forward_cpu(drive, weight, beta_c, w_out, readout.bias, rb, mem, spk, counts, rmem, thr, mode);
#ifdef SERNN_HAS_CUDA
  } else if (drive.is_cuda()) {
    launch_cuda_forward(drive, weight, beta_c, w_out, readout.bias, rb, mem, spk, counts, rmem, thr, mode);
#endif
  } else {
    for (int64_t k = 0; k < K; ++k)
      forward_ops(drive[k], weight[k], beta_c[k], w_out[k], readout.bias[k], rb[k], mem[k], spk[k], counts[k], rmem[k],
                  thr, mode);
  }
  return {rmem, spk, counts, mem};
}

LifMembersGrads lif_members_backward(const Tensor& grad_readout_mem, const Tensor& grad_counts, const Tensor& mem,
                                     const Tensor& spk, const Tensor& weight, const Tensor& beta, const Tensor& w_out,
                                     const Tensor& readout_beta, double thr, double slope, ResetMode mode) {
  const int64_t K = mem.size(0), T = mem.size(1), B = mem.size(2), N = mem.size(3), C = w_out.size(1);
  const auto g_rm =
      grad_readout_mem.defined() ? grad_readout_mem.contiguous() : torch::zeros({K, T, B, C}, mem.options());
  const auto g_counts = grad_counts.defined() ? grad_counts.contiguous() : torch::zeros({K, B, N}, mem.options());
  const auto beta_c = beta.clamp(0.0, 1.0).contiguous();
  const auto rb = readout_beta.clamp(0.0, 1.0).contiguous();
  // Readout: the leaky integrator backwards, g_co_t = dL/du_t + rb g_co_{t+1}.
  auto gco = torch::empty({K, T, B, C}, mem.options());
  // gcur_t overwrites mem_t in place: step t reads mem_t and mem_{t-1} before writing gcur_t,
  // and no later step needs mem_t. This saves a [T, B, N] buffer but consumes the saved state,
  // so the backward can run only once.
  const auto& gcur = mem;
  auto gbeta_rows = torch::zeros({K, B, N}, mem.options());
  if (mem.is_cpu()) {
    backward_cpu(g_rm, g_counts, weight, w_out, beta_c, rb, mem, gco, gbeta_rows, thr, slope, mode);
#ifdef SERNN_HAS_CUDA
  } else if (mem.is_cuda()) {
    launch_cuda_backward(g_rm, g_counts, weight, w_out, beta_c, rb, mem, gco, gcur, gbeta_rows, thr, slope, mode);
#endif
  } else {
    for (int64_t k = 0; k < K; ++k)
      backward_ops(g_rm[k], g_counts[k], weight[k], w_out[k], beta_c[k], rb[k], mem[k], gco[k], gbeta_rows[k], thr,
                   slope, mode);
  }
  // The weight gradients as sums over the spikes: dW = Σ_t gcur_t^T s_{t-1}, dW_out = Σ_t gco_t^T s_t.
  const auto g_wout = member_spike_gemm(gco.view({K, T * B, C}), spk.view({K, T * B, N}));
  const auto gw =
      T < 2 ? torch::zeros_like(weight)
            : member_spike_gemm(gcur.slice(1, 1).reshape({K, -1, N}), spk.slice(1, 0, T - 1).reshape({K, -1, N}));
  // On the CPU member by member (member_sums: the bits of a network alone); elsewhere one
  // reduction for all members (one launch; GPU members agree with their runs to rounding only).
  const bool cpu = mem.is_cpu();
  const auto g_bias = cpu ? member_sums(gco.view({K, T * B, C})) : gco.view({K, T * B, C}).sum(1);
  // clamp(0, 1) passes gradient only inside the interval (as torch's clamp backward).
  auto gbeta =
      (cpu ? member_sums(gbeta_rows) : gbeta_rows.sum(1)) * beta.ge(0).logical_and(beta.le(1)).to(beta.scalar_type());
  return {gcur, gw, gbeta, g_wout, g_bias};
}

LifNetworkTrace lif_network(const Tensor& drive, const Tensor& weight, const Tensor& beta, const LifReadout& readout,
                            double threshold, double slope, ResetMode reset, bool drive_is_scratch) {
  check_shapes(drive, weight, beta, readout, 0);
  const auto dt = drive.scalar_type();
  // One network is an ensemble of one: the same node, with a leading member dimension of 1.
  auto out = LifNetworkFunction::apply(drive.contiguous().unsqueeze(0), weight.unsqueeze(0), beta.to(dt).unsqueeze(0),
                                       readout.weight.unsqueeze(0), readout.bias.unsqueeze(0),
                                       readout.beta.detach().to(dt).reshape({1, -1}), threshold, slope,
                                       static_cast<int64_t>(reset), drive_is_scratch);
  return {out[0].squeeze(0), out[1].squeeze(0), out[2].squeeze(0)};
}

LifNetworkTrace lif_network_members(const Tensor& drive, const Tensor& weight, const Tensor& beta,
                                    const LifReadout& readout, double threshold, double slope, ResetMode reset,
                                    bool drive_is_scratch) {
  check_shapes(drive, weight, beta, readout, 1);
  const auto dt = drive.scalar_type();
  auto out = LifNetworkFunction::apply(drive.contiguous(), weight, beta.to(dt), readout.weight, readout.bias,
                                       readout.beta.detach().to(dt).reshape({drive.size(0), -1}), threshold, slope,
                                       static_cast<int64_t>(reset), drive_is_scratch);
  return {out[0], out[1], out[2]};
}

}  // namespace sernn

namespace sernn {

namespace {

/// SparseProjection's gradients in weight [K, O, I] (a transposed view) and bias [K, O] for the
/// output gradient grad [K, R, O] (row_start, cols, vals as its forward's).
std::pair<Tensor, Tensor> sparse_projection_grads(const Tensor& row_start, const Tensor& cols, const Tensor& vals,
                                                  int64_t I, const Tensor& grad) {
  const auto g = grad.contiguous();
  const int64_t K = g.size(0), R = g.size(1), O = g.size(2);
  // Rows split into parts, one private dW^T per part, summed at the end: threads never share a
  // cache line of the output (a split over output columns did, and made 2 threads 6x the work).
  // The parts follow from R alone (not the threads), so the sum rounds alike at any thread count.
  constexpr int64_t kMaxParts = 8, kRowsPerPart = 256;
  const int64_t parts = std::clamp<int64_t>(R / kRowsPerPart, 1, kMaxParts);
  auto partial = torch::zeros({K, parts, I, O}, g.options());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "sparse_projection_backward", [&] {
    const auto* rs = row_start.data_ptr<int64_t>();
    const auto* cp = cols.data_ptr<int64_t>();
    const auto* vp = vals.data_ptr<scalar_t>();
    const scalar_t* gp = g.data_ptr<scalar_t>();
    parallel_for(0, K * parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t kp = p0; kp < p1; ++kp) {
        const int64_t k = kp / parts, part = kp % parts;
        const int64_t* rk = rs + k * (R + 1);
        scalar_t* out = partial.data_ptr<scalar_t>() + kp * I * O;
        for (int64_t r = part * R / parts; r < (part + 1) * R / parts; ++r)
          for (int64_t e = rk[r]; e < rk[r + 1]; ++e) {
            scalar_t* row = out + cp[e] * O;
            const scalar_t v = vp[e];
            const scalar_t* gr = gp + (k * R + r) * O;
            for (int64_t o = 0; o < O; ++o) row[o] += v * gr[o];
          }
      }
    });
  });
  // The parts' and the rows' sums one member at a time, each of a member's own shape (as the
  // member alone sums them).
  auto gwt = parts == 1 ? partial.squeeze(1) : torch::empty({K, I, O}, g.options());
  if (parts > 1)
    for_members("sernn::member_sums", K, [&](int64_t k) {
      auto gwk = gwt[k];
      torch::sum_out(gwk, partial[k], 0);
    });
  return {gwt.transpose(1, 2), member_sums(g)};
}

/// K members' y_k = x_k W_k^T + b_k from compressed rows (no gradient), differentiable in W and
/// b: row_start [K, R + 1] points member k's rows into cols and vals (shared by the members that
/// read one batch), weight [K, O, I], bias [K, O] -> [K, R, O]. Every member's arithmetic is that
/// of a member alone (K = 1): rows are independent, and the backward's parts and sums follow
/// from R, never from K or the threads.
class SparseProjection : public torch::autograd::Function<SparseProjection> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& row_start, const Tensor& cols, const Tensor& vals,
                        const Tensor& weight, const Tensor& bias, int64_t inputs) {
    const int64_t K = weight.size(0), R = row_start.size(1) - 1, O = weight.size(1);
    const auto wt = weight.transpose(1, 2).contiguous();  // [K, I, O]: one contiguous row per input unit
    Tensor out = torch::empty({K, R, O}, vals.options());
    AT_DISPATCH_FLOATING_TYPES(vals.scalar_type(), "sparse_projection_forward", [&] {
      const scalar_t* w = wt.data_ptr<scalar_t>();
      const auto bc = bias.contiguous();
      const scalar_t* bp = bc.data_ptr<scalar_t>();
      const auto* rs = row_start.data_ptr<int64_t>();
      const auto* cp = cols.data_ptr<int64_t>();
      const auto* vp = vals.data_ptr<scalar_t>();
      scalar_t* y = out.data_ptr<scalar_t>();
      parallel_for(0, K * R, 256, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t k = i / R, r = i % R;
          const int64_t* rk = rs + k * (R + 1);
          const scalar_t *wk = w + k * inputs * O, *bk = bp + k * O;
          scalar_t* yr = y + i * O;
          for (int64_t o = 0; o < O; ++o) yr[o] = bk[o];
          for (int64_t e = rk[r]; e < rk[r + 1]; ++e) {
            const scalar_t v = vp[e];
            const scalar_t* wr = wk + cp[e] * O;
            for (int64_t o = 0; o < O; ++o) yr[o] += v * wr[o];
          }
        }
      });
    });
    ctx->save_for_backward({row_start, cols, vals});
    ctx->saved_data["inputs"] = inputs;
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [gw, gb] = sparse_projection_grads(saved[0], saved[1], saved[2], ctx->saved_data["inputs"].toInt(), grads[0]);
    return {Tensor(), Tensor(), Tensor(), gw, gb, Tensor()};
  }
};

// x's nonzeros [R, I] in compressed rows: one pass over x, chunks of rows in parallel.
SparseInput compress_rows(const Tensor& x, int64_t T, int64_t B) {
  const int64_t R = x.size(0), I = x.size(1);
  const auto xc = x.contiguous();
  SparseInput out;
  out.steps = T, out.batch = B, out.inputs = I;
  out.row_start = torch::zeros({R + 1}, torch::kInt64);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_input", [&] {
    const scalar_t* xp = xc.data_ptr<scalar_t>();
    auto* cnt = out.row_start.data_ptr<int64_t>();
    const int64_t chunk = 256, chunks = (R + chunk - 1) / chunk;
    std::vector<std::vector<int64_t>> chunk_cols(chunks);
    std::vector<std::vector<scalar_t>> chunk_vals(chunks);
    parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      std::vector<int64_t> nz(I);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = c * chunk; r < std::min(R, (c + 1) * chunk); ++r) {
          const scalar_t* xr = xp + r * I;
          // Branch-free compaction of the nonzero columns: the scan over mostly-zero rows is
          // the bulk of this kernel's time, so it stays a tight loop.
          int64_t n = 0;
          for (int64_t i = 0; i < I; ++i) {
            nz[n] = i;
            n += xr[i] != scalar_t(0);
          }
          for (int64_t k = 0; k < n; ++k) chunk_cols[c].push_back(nz[k]), chunk_vals[c].push_back(xr[nz[k]]);
          cnt[r + 1] = n;
        }
    });
    for (int64_t r = 0; r < R; ++r) cnt[r + 1] += cnt[r];
    out.cols = torch::empty({cnt[R]}, torch::kInt64);
    out.vals = torch::empty({cnt[R]}, x.options());
    int64_t k = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      std::copy(chunk_cols[c].begin(), chunk_cols[c].end(), out.cols.data_ptr<int64_t>() + k);
      std::copy(chunk_vals[c].begin(), chunk_vals[c].end(), out.vals.data_ptr<scalar_t>() + k);
      k += static_cast<int64_t>(chunk_cols[c].size());
    }
  });
  return out;
}

}  // namespace

namespace {

// A coalesced sparse COO x [T, B, I] (ordered by time, sample, input) in compressed rows r = t B + b.
SparseInput from_coo(const torch::Tensor& coo) {
  const auto x = coo.coalesce();  // itself when coalesced already (SHD's batches are)
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2);
  const auto idx = x._indices().contiguous();
  const int64_t nnz = idx.size(1);
  SparseInput out;
  out.steps = T, out.batch = B, out.inputs = I;
  out.row_start = torch::zeros({T * B + 1}, torch::kInt64);
  int64_t* rs = out.row_start.data_ptr<int64_t>();
  const int64_t *t = idx[0].data_ptr<int64_t>(), *b = idx[1].data_ptr<int64_t>();
  for (int64_t n = 0; n < nnz; ++n) ++rs[t[n] * B + b[n] + 1];
  for (int64_t r = 0; r < T * B; ++r) rs[r + 1] += rs[r];
  out.cols = idx[2].clone();
  out.vals = x._values().contiguous();
  return out;
}

}  // namespace

std::optional<SparseInput> sparse_input(const torch::Tensor& x, double max_density) {
  if (x.is_sparse()) return x.is_cpu() && !x.requires_grad() ? std::optional<SparseInput>(from_coo(x)) : std::nullopt;
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2);
  const auto flat = x.reshape({T * B, I});
  if (!x.is_cpu() || flat.numel() == 0 || x.requires_grad() || max_density <= 0) return std::nullopt;
  // Density from a strided sample of rows: cheap, and only decides which kernel runs.
  const auto sample = flat.slice(0, 0, T * B, std::max<int64_t>(1, T * B / 256));
  if (torch::count_nonzero(sample).item<double>() >= max_density * static_cast<double>(sample.numel()))
    return std::nullopt;
  return compress_rows(flat, T, B);
}

torch::Tensor sparse_projection(const SparseInput& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  TORCH_CHECK(weight.dim() == 2 && bias.dim() == 1, "sparse_projection: weight [O, ", x.inputs,
              "] and bias [O] expected, got ", weight.sizes(), ", ", bias.sizes());
  return member_sparse_projection({&x}, weight.unsqueeze(0), bias.unsqueeze(0)).squeeze(0);
}

namespace {

/// K members' compressed rows for one SparseProjection node: each distinct input's entries once
/// (members on one seed share a batch), member k's row starts pointing into them.
struct JoinedRows {
  Tensor row_start, cols, vals;  ///< [K, R + 1], [nnz], [nnz]
};

JoinedRows join_rows(const std::vector<const SparseInput*>& x) {
  const SparseInput& x0 = *x[0];
  std::vector<const SparseInput*> distinct;
  std::vector<Tensor> cols, vals, starts;
  std::vector<int64_t> base;
  int64_t nnz = 0;
  for (const SparseInput* xk : x) {
    TORCH_CHECK(xk->steps == x0.steps && xk->batch == x0.batch && xk->inputs == x0.inputs,
                "sparse_projection: members' inputs differ in shape");
    auto it = std::find(distinct.begin(), distinct.end(), xk);
    if (it == distinct.end()) {
      it = distinct.insert(distinct.end(), xk);
      base.push_back(nnz);
      cols.push_back(xk->cols);
      vals.push_back(xk->vals);
      nnz += xk->cols.numel();
    }
    const int64_t offset = base[it - distinct.begin()];
    starts.push_back(offset ? xk->row_start + offset : xk->row_start);
  }
  const auto joined = [](const std::vector<Tensor>& parts) { return parts.size() == 1 ? parts[0] : torch::cat(parts); };
  return {x.size() == 1 ? starts[0].unsqueeze(0) : torch::stack(starts), joined(cols), joined(vals)};
}

void check_members(const std::vector<const SparseInput*>& x, const Tensor& weight, const Tensor& bias) {
  const auto K = static_cast<int64_t>(x.size());
  TORCH_CHECK(K >= 1 && weight.dim() == 3 && weight.size(0) == K && weight.size(2) == x[0]->inputs && bias.dim() == 2 &&
                  bias.size(0) == K && bias.size(1) == weight.size(1),
              "sparse_projection: ", K, " members' weight [K, O, ", K ? x[0]->inputs : 0,
              "] and bias [K, O] expected, got ", weight.sizes(), ", ", bias.sizes());
}

}  // namespace

torch::Tensor member_sparse_projection(const std::vector<const SparseInput*>& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias) {
  check_members(x, weight, bias);
  const auto rows = join_rows(x);
  return SparseProjection::apply(rows.row_start, rows.cols, rows.vals, weight, bias, x[0]->inputs)
      .view({static_cast<int64_t>(x.size()), x[0]->steps, x[0]->batch, weight.size(1)});
}

namespace {

/// The dense form of K members' inputs [K, T B, I] times weight [K, O, I]^T plus bias [K, O]: on
/// the CPU in fixed row blocks (member_linear: a member alone rounds alike), elsewhere one
/// batched GEMM.
Tensor dense_member_projection(const std::vector<Tensor>& inputs, const Tensor& weight, const Tensor& bias) {
  std::vector<std::pair<const void*, Tensor>> dense;  // each distinct batch densified once
  std::vector<Tensor> rows;
  for (const auto& x : inputs) {
    const void* key = x.unsafeGetTensorImpl();
    auto it = std::find_if(dense.begin(), dense.end(), [&](const auto& d) { return d.first == key; });
    // On a device the densifying is cheap next to the transfer.
    if (it == dense.end()) it = dense.insert(dense.end(), {key, (x.is_sparse() ? x.to_dense() : x).flatten(0, 1)});
    rows.push_back(it->second);
  }
  const auto T = inputs[0].size(0), B = inputs[0].size(1), K = weight.size(0), O = weight.size(1);
  if (!rows[0].is_cpu() && dense.size() == 1 && K > 1) {
    // Every member reads one batch (issue 36): one GEMM against the members' weights side by
    // side, [T B, I] x [I, K O], instead of K copies of the batch.
    const auto y = torch::addmm(bias.reshape({K * O}), rows[0], weight.reshape({K * O, -1}).t());
    return y.view({T, B, K, O}).permute({2, 0, 1, 3}).contiguous();
  }
  const auto xs = rows.size() == 1 ? rows[0].unsqueeze(0) : torch::stack(rows);
  const auto y =
      xs.is_cpu() ? member_linear(xs, weight, bias) : torch::baddbmm(bias.unsqueeze(1), xs, weight.transpose(1, 2));
  return y.view({K, T, B, O});
}

}  // namespace

namespace {

// The sparse form of each distinct batch, built once for the members that read it (the deque
// keeps the pointers valid): member k's form, or nullptr where its batch takes the dense path.
using SparseForms = std::deque<std::pair<const void*, std::optional<SparseInput>>>;
std::vector<const SparseInput*> sparse_forms(const std::vector<Tensor>& inputs, double max_density,
                                             SparseForms& forms) {
  std::vector<const SparseInput*> sparse;
  for (const auto& x : inputs) {
    const void* key = x.unsafeGetTensorImpl();
    auto it = std::find_if(forms.begin(), forms.end(), [&](const auto& f) { return f.first == key; });
    if (it == forms.end()) it = forms.insert(forms.end(), {key, sparse_input(x, max_density)});
    sparse.push_back(it->second ? &*it->second : nullptr);
  }
  return sparse;
}

}  // namespace

torch::Tensor member_input_projection(const std::vector<torch::Tensor>& inputs, const torch::Tensor& weight,
                                      const torch::Tensor& bias, double max_density) {
  const auto K = static_cast<int64_t>(inputs.size());
  TORCH_CHECK(K >= 1 && weight.dim() == 3 && weight.size(0) == K && bias.dim() == 2 && bias.size(0) == K &&
                  bias.size(1) == weight.size(1),
              "input_projection: ", K, " members' weight [K, O, I] and bias [K, O] expected, got ", weight.sizes(),
              ", ", bias.sizes());
  TORCH_CHECK(bias.device() == weight.device(), "input_projection: bias is on ", bias.device(), " but weight is on ",
              weight.device());
  for (const auto& x : inputs) {
    TORCH_CHECK(x.dim() == 3 && x.size(2) == weight.size(2) && x.sizes() == inputs[0].sizes(),
                "input_projection: members' inputs [T, B, ", weight.size(2), "] of one shape expected, got ",
                x.sizes());
    // The CPU loops read raw pointers: a CPU batch with CUDA weights would read device memory.
    TORCH_CHECK(x.device() == weight.device(), "input_projection: the input is on ", x.device(), " but weight is on ",
                weight.device());
  }
  SparseForms forms;
  const auto sparse = sparse_forms(inputs, max_density, forms);
  const auto n_sparse = std::count_if(sparse.begin(), sparse.end(), [](const SparseInput* s) { return s != nullptr; });
  if (n_sparse == K) return member_sparse_projection(sparse, weight, bias);
  if (n_sparse == 0) return dense_member_projection(inputs, weight, bias);
  // Some members' batches sparse, some dense (different seeds near max_density): each member as
  // it runs alone.
  std::vector<Tensor> out;
  for (int64_t k = 0; k < K; ++k) {
    const auto w = weight.slice(0, k, k + 1), b = bias.slice(0, k, k + 1);
    out.push_back(sparse[k] ? member_sparse_projection({sparse[k]}, w, b) : dense_member_projection({inputs[k]}, w, b));
  }
  return torch::cat(out);
}

std::optional<std::pair<torch::Tensor, torch::Tensor>> member_input_projection_grads(
    const std::vector<torch::Tensor>& inputs, const torch::Tensor& weight, const torch::Tensor& bias,
    const torch::Tensor& grad, double max_density) {
  SparseForms forms;
  const auto sparse = sparse_forms(inputs, max_density, forms);
  if (std::count(sparse.begin(), sparse.end(), nullptr) > 0) return std::nullopt;
  check_members(sparse, weight, bias);
  const auto rows = join_rows(sparse);
  const int64_t K = weight.size(0), O = weight.size(1);
  return sparse_projection_grads(rows.row_start, rows.cols, rows.vals, sparse[0]->inputs, grad.reshape({K, -1, O}));
}

torch::Tensor input_projection(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               double max_density) {
  TORCH_CHECK(weight.dim() == 2 && bias.dim() == 1, "input_projection: weight [O, I] and bias [O] expected, got ",
              weight.sizes(), ", ", bias.sizes());
  return member_input_projection({x}, weight.unsqueeze(0), bias.unsqueeze(0), max_density).squeeze(0);
}

}  // namespace sernn
