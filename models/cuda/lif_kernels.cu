// Fused LIF time loop on the GPU: see lif_kernels.h. The step arithmetic is lif_math.h's, shared
// with the CPU loop; this file only maps neurons to threads and samples to blocks. Compiled with
// -fmad=false so that the forward rounds exactly as the CPU loop does (no fused multiply-adds):
// a spike is a threshold test, and one flipped spike would make GPU and CPU trajectories diverge.
#include "models/cuda/lif_kernels.h"

#include <cuda_runtime.h>

namespace sernn::cuda {
namespace {

constexpr int kMaxThreads = 1024;
constexpr size_t kDefaultSmem = 48 * 1024;

int block_size(int64_t neurons) {
  const int64_t b = (neurons + 31) / 32 * 32;
  return static_cast<int>(b < 32 ? 32 : (b > kMaxThreads ? kMaxThreads : b));
}

// Appends, in ascending order, the indices n whose `flag` is set to list[base, ...), for one chunk
// of blockDim.x neurons; every thread of the block calls it with the same base. Returns how many
// were appended. warp_tot: shared [33]. blockDim.x is a multiple of 32, so every warp is full.
__device__ int compact_chunk(bool flag, int n, int* list, int base, int* warp_tot) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const unsigned ballot = __ballot_sync(0xffffffffu, flag);
  if (lane == 0) warp_tot[warp] = __popc(ballot);
  __syncthreads();
  if (threadIdx.x == 0) {
    int acc = 0;
    for (int w = 0; w < warps; ++w) {
      const int c = warp_tot[w];
      warp_tot[w] = acc;
      acc += c;
    }
    warp_tot[32] = acc;
  }
  __syncthreads();
  if (flag) list[base + warp_tot[warp] + __popc(ballot & ((1u << lane) - 1u))] = n;
  const int total = warp_tot[32];
  __syncthreads();  // the list is complete and warp_tot may be reused
  return total;
}

// One block per sample b (and member blockIdx.y); thread i owns neurons i, i + blockDim.x, ... and classes likewise.
// Per step: (1) membranes from the drive and the recurrence gathered over last step's spike
// list, (2) the new spike list (ascending, as the CPU loop visits presynaptic neurons), (3) the
// readout current gathered over it and the leaky readout.
template <class T>
__global__ void __launch_bounds__(kMaxThreads)
    forward_kernel(const T* drive, const T* wt, const T* beta, const T* wot, const T* bo, const T* rb, T* mem,
                   uint8_t* spk, T* counts, T* rmem, int steps, int batch, int N, int C, T thr, ResetMode mode) {
  extern __shared__ int list[];  // [N] spike list of the last step
  __shared__ int warp_tot[33];
  const int b = blockIdx.x;
  const int64_t bn = int64_t(batch) * N, bc = int64_t(batch) * C;
  // Member blockIdx.y's slices (members are independent networks, laid out one after another).
  const int64_t km = blockIdx.y, tbn = int64_t(steps) * bn, tbc = int64_t(steps) * bc;
  drive += km * tbn, mem += km * tbn, spk += km * tbn, rmem += km * tbc, counts += km * bn;
  wt += km * N * N, beta += km * N, wot += km * N * C, bo += km * C, rb += km * C;
  int n_spk = 0;
  for (int t = 0; t < steps; ++t) {
    const int64_t row = int64_t(t) * bn + int64_t(b) * N;
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
      T c = T(0);
      for (int q = 0; q < n_spk; ++q) c += wt[int64_t(list[q]) * N + n];
      const T v = lif::membrane(beta[n], t ? mem[row - bn + n] : T(0), drive[row + n] + c, thr, mode);
      mem[row + n] = v;
      const bool s = lif::fires(v, thr);
      spk[row + n] = s;
      if (s) counts[int64_t(b) * N + n] += T(1);
    }
    __syncthreads();  // everyone has read the old list
    int total = 0;
    for (int base = 0; base < N; base += blockDim.x) {
      const int n = base + threadIdx.x;
      total += compact_chunk(n < N && spk[row + n], n, list, total, warp_tot);
    }
    n_spk = total;
    for (int k = threadIdx.x; k < C; k += blockDim.x) {
      T co = T(0);
      for (int q = 0; q < n_spk; ++q) co += wot[int64_t(list[q]) * C + k];
      const int64_t i = int64_t(t) * bc + int64_t(b) * C + k;
      rmem[i] = lif::readout(rb[k], t ? rmem[i - bc] : T(0), co + bo[k]);
    }
  }
}

// One block per sample b (and member blockIdx.y), the time loop reversed. Per step: (1) the readout gradient
// gco_t = dL/du_t + rb gco_{t+1}; (2) dL/ds_t = g_counts + gco_t W_out + gcur_{t+1} W, then the
// step's backward (lif_math.h). gcur_{t+1} lives in shared memory (double-buffered).
template <class T>
__global__ void __launch_bounds__(kMaxThreads)
    backward_kernel(const T* g_rm, const T* g_counts, const T* w, const T* wo, const T* beta, const T* rb, const T* mem,
                    T* gco, T* gcur, T* gbeta_rows, T* gv, int steps, int batch, int N, int C, T thr, T slope,
                    ResetMode mode) {
  extern __shared__ unsigned char smem_raw[];
  T* gcur_s = reinterpret_cast<T*>(smem_raw);  // [2][N]
  T* gco_s = gcur_s + 2 * N;                   // [C]
  const int b = blockIdx.x;
  const int64_t bn = int64_t(batch) * N, bc = int64_t(batch) * C;
  // Member blockIdx.y's slices, as in the forward.
  const int64_t km = blockIdx.y, tbn = int64_t(steps) * bn, tbc = int64_t(steps) * bc;
  g_rm += km * tbc, gco += km * tbc, mem += km * tbn, gcur += km * tbn;
  g_counts += km * bn, gbeta_rows += km * bn, gv += km * bn;
  w += km * N * N, wo += km * C * N, beta += km * N, rb += km * C;
  int p = 0;
  for (int t = steps - 1; t >= 0; --t) {
    const bool last = t == steps - 1;
    for (int k = threadIdx.x; k < C; k += blockDim.x) {
      const int64_t i = int64_t(t) * bc + int64_t(b) * C + k;
      const T g = last ? g_rm[i] : g_rm[i] + rb[k] * gco[i + bc];
      gco[i] = g;
      gco_s[k] = g;
    }
    __syncthreads();
    const int64_t row = int64_t(t) * bn + int64_t(b) * N;
    const T* gnext = gcur_s + p * N;
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
      T gs = T(0);
      for (int k = 0; k < C; ++k) gs += gco_s[k] * wo[int64_t(k) * N + n];
      gs = g_counts[int64_t(b) * N + n] + gs;
      if (!last) {
        T r = T(0);
        for (int m = 0; m < N; ++m) r += gnext[m] * w[int64_t(m) * N + n];
        gs += r;
      }
      const int64_t own = int64_t(b) * N + n;
      const T v = mem[row + n], vp = t ? mem[row - bn + n] : T(0);
      const auto g = lif::step_backward(gs, v, vp, last ? T(0) : gv[own], beta[n], thr, slope, mode, last);
      gv[own] = g.gv;
      gbeta_rows[own] += g.gbeta;
      gcur[row + n] = g.gcur;  // may overwrite mem_t: read above, not needed again
      gcur_s[(1 - p) * N + n] = g.gcur;
    }
    __syncthreads();
    p = 1 - p;
  }
}

template <class K>
cudaError_t allow_smem(K kernel, size_t bytes) {
  if (bytes <= kDefaultSmem) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

}  // namespace

template <class T>
cudaError_t lif_forward(const T* drive, const T* wt, const T* beta, const T* wot, const T* bo, const T* rb, T* mem,
                        uint8_t* spk, T* counts, T* rmem, int64_t members, int64_t steps, int64_t batch,
                        int64_t neurons, int64_t classes, T thr, ResetMode mode, cudaStream_t stream) {
  if (neurons > kMaxNeurons || neurons < 1 || batch < 1 || members < 1 || members > kMaxMembers)
    return cudaErrorInvalidValue;
  if (steps == 0) return cudaSuccess;
  const size_t smem = forward_shared_bytes(neurons);
  if (const auto e = allow_smem(forward_kernel<T>, smem); e != cudaSuccess) return e;
  const dim3 grid(static_cast<unsigned>(batch), static_cast<unsigned>(members));
  forward_kernel<T><<<grid, block_size(neurons), smem, stream>>>(
      drive, wt, beta, wot, bo, rb, mem, spk, counts, rmem, static_cast<int>(steps), static_cast<int>(batch),
      static_cast<int>(neurons), static_cast<int>(classes), thr, mode);
  return cudaGetLastError();
}

template <class T>
cudaError_t lif_backward(const T* g_rm, const T* g_counts, const T* w, const T* wo, const T* beta, const T* rb,
                         const T* mem, T* gco, T* gcur, T* gbeta_rows, T* gv, int64_t members, int64_t steps,
                         int64_t batch, int64_t neurons, int64_t classes, T thr, T slope, ResetMode mode,
                         cudaStream_t stream) {
  if (neurons > kMaxNeurons || neurons < 1 || batch < 1 || members < 1 || members > kMaxMembers)
    return cudaErrorInvalidValue;
  if (steps == 0) return cudaSuccess;
  const size_t smem = backward_shared_bytes(neurons, classes, sizeof(T));
  if (const auto e = allow_smem(backward_kernel<T>, smem); e != cudaSuccess) return e;
  const dim3 grid(static_cast<unsigned>(batch), static_cast<unsigned>(members));
  backward_kernel<T><<<grid, block_size(neurons), smem, stream>>>(
      g_rm, g_counts, w, wo, beta, rb, mem, gco, gcur, gbeta_rows, gv, static_cast<int>(steps), static_cast<int>(batch),
      static_cast<int>(neurons), static_cast<int>(classes), thr, slope, mode);
  return cudaGetLastError();
}

#define SERNN_LIF_INSTANTIATE(T)                                                                                     \
  template cudaError_t lif_forward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, uint8_t*, T*,  \
                                      T*, int64_t, int64_t, int64_t, int64_t, int64_t, T, ResetMode, cudaStream_t);  \
  template cudaError_t lif_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, T, T, ResetMode,         \
                                       cudaStream_t);
SERNN_LIF_INSTANTIATE(float)
SERNN_LIF_INSTANTIATE(double)
#undef SERNN_LIF_INSTANTIATE

}  // namespace sernn::cuda
