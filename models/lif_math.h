#pragma once
/// The per-neuron arithmetic of one LIF time step, forward and backward, written once for the
/// CPU loop (models/lif_sequence.cpp) and the CUDA kernels (models/cuda/lif_kernels.cu), so that
/// the CPU tests exercise the same math the GPU runs. Plain C++ with no torch: nvcc compiles it
/// as __host__ __device__ code.
///
/// Forward (snnTorch RLeaky, see lif.h), with r_t = H(V_t - thr) the reset of the previous step:
///     subtract          V_{t+1} = β V_t + c - r_t thr
///     subtract_decayed  V_{t+1} = β (V_t - r_t thr) + c
///     zero              V_{t+1} = (β V_t + c)(1 - r_t)
///     zero_immediate    V_{t+1} = β V_t (1 - r_t) + c
///     none              V_{t+1} = β V_t + c
///     s_{t+1} = H(V_{t+1} - thr)
/// where c is the summed input current (drive + recurrence). `zero` is snnTorch's default
/// (reset_delay=True: the step after a spike starts from zero and drops its input);
/// `zero_immediate` is snnTorch's reset_mechanism="zero" with reset_delay=False, and NIR's LIF
/// with v_reset = 0 (the membrane is set to zero at the spike, the next step integrates its
/// input). The reset is detached (as snnTorch), and the spike's gradient is the fast-sigmoid
/// surrogate 1 / (slope |V - thr| + 1)^2.
#include <cstdint>

#if defined(__CUDACC__)
#define SERNN_HD __host__ __device__ __forceinline__
#else
#define SERNN_HD inline
#endif

namespace sernn {

enum class ResetMode { Subtract, SubtractDecayed, Zero, None, ZeroImmediate };

namespace lif {

/// The reset r_t = H(V_t - thr) used by the step that follows V_t.
template <class T>
SERNN_HD T reset_of(T v, T thr) {
  return v > thr ? T(1) : T(0);
}

/// The five reset rules, stated once as X(mode, V_{t+1}) over β `beta`, V_t `v`, the current
/// `c`, the reset r_t `r` and `thr`. Expanded below as C++ (scalars for the CPU loop and the CUDA
/// kernels, tensors for the reference path and other devices) and as TorchScript text by the
/// exporter (run/model_spiking.cpp), so no copy of a rule can drift from the others.
// The rules are text too (the exporter stringifies them): keep their spacing.
// clang-format off
#define SERNN_LIF_RESET_RULES(X)                 \
  X(Subtract, beta * v + c - r * thr)            \
  X(SubtractDecayed, beta * (v - r * thr) + c)   \
  X(Zero, (beta * v + c) * (1 - r))              \
  X(None, beta * v + c)                          \
  X(ZeroImmediate, beta * v * (1 - r) + c)
// clang-format on

/// V_{t+1} from V_t = `v`, the summed current `c`, β (already clamped to [0, 1]) and the reset
/// r_t (0 or 1). Works for scalars and for torch tensors (V, B, R may be tensors, Thr a double).
template <class V, class B, class R, class Thr>
SERNN_HD V membrane_update(const B& beta, const V& v, const V& c, const R& r, const Thr& thr, ResetMode mode) {
  switch (mode) {
#define SERNN_LIF_CASE(mode_name, expr) \
  case ResetMode::mode_name: return expr;
    SERNN_LIF_RESET_RULES(SERNN_LIF_CASE)
#undef SERNN_LIF_CASE
  }
  return beta * v + c;
}

/// V_{t+1} from V_t (`v_prev`), the summed current `c` and β (already clamped to [0, 1]).
template <class T>
SERNN_HD T membrane(T beta, T v_prev, T c, T thr, ResetMode mode) {
  return membrane_update(beta, v_prev, c, reset_of(v_prev, thr), thr, mode);
}

/// The TorchScript text of `mode`'s rule (the same expression as membrane_update).
inline const char* membrane_rule_text(ResetMode mode) {
  switch (mode) {
#define SERNN_LIF_TEXT(mode_name, expr) \
  case ResetMode::mode_name: return #expr;
    SERNN_LIF_RESET_RULES(SERNN_LIF_TEXT)
#undef SERNN_LIF_TEXT
  }
  return "beta * v + c";
}

/// The forward spike H(V - thr).
template <class T>
SERNN_HD bool fires(T v, T thr) {
  return v > thr;
}

/// The fast-sigmoid surrogate dS/dV = 1 / D at V, D = (slope |V - thr| + 1)^2. Gradients are
/// divided by D (as the reference path's autograd does), so both round alike.
template <class T>
SERNN_HD T surrogate_denominator(T v, T thr, T slope) {
  const T x = v - thr;
  const T d = slope * (x < T(0) ? -x : x) + T(1);
  return d * d;
}

/// The non-spiking leaky readout: u_t = rb u_{t-1} + c (rb clamped to [0, 1]).
template <class T>
SERNN_HD T readout(T rb, T u_prev, T c) {
  return rb * u_prev + c;
}

/// Whether `mode` sets the membrane to zero after a spike (V_{t+1} then carries no gradient to
/// V_t across a reset).
SERNN_HD bool zeroes(ResetMode mode) { return mode == ResetMode::Zero || mode == ResetMode::ZeroImmediate; }

/// What one backward step yields for one neuron.
template <class T>
struct StepGrad {
  T gv;     ///< dL/dV_t (carried to step t-1 as gv_next)
  T gcur;   ///< dL/dc_t (the current that made V_t: drive and recurrence)
  T gbeta;  ///< this step's contribution to dL/dβ
};

/// Backward through the step that made V_t = v from V_{t-1} = v_prev. gs = dL/ds_t (through the
/// spike count, the readout and the recurrence into step t+1); gv_next = dL/dV_{t+1} (ignored
/// when `last`, i.e. t = T-1). V_{t+1} depends on V_t through β (and, for the zero resets, 1 - r_t).
template <class T>
SERNN_HD StepGrad<T> step_backward(T gs, T v, T v_prev, T gv_next, T beta, T thr, T slope, ResetMode mode, bool last) {
  T g = gs / surrogate_denominator(v, thr, slope);
  if (!last) g += gv_next * (zeroes(mode) ? beta * (T(1) - reset_of(v, thr)) : beta);
  const T r = reset_of(v_prev, thr);
  switch (mode) {
    case ResetMode::SubtractDecayed: return {g, g, g * (v_prev - r * thr)};
    case ResetMode::Zero: return {g, g * (T(1) - r), g * v_prev * (T(1) - r)};
    case ResetMode::ZeroImmediate: return {g, g, g * v_prev * (T(1) - r)};
    default: return {g, g, g * v_prev};  // subtract, none
  }
}

}  // namespace lif
}  // namespace sernn
