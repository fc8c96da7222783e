#pragma once
/// Fused CUDA kernels of the recurrent LIF layer and its leaky readout over a whole sequence: the
/// GPU side of lif_network (models/lif_sequence.h). Plain pointers and a stream, no torch, so the
/// kernels compile with nvcc alone; models/lif_sequence.cpp owns the tensors and calls these.
///
/// One launch per direction for K networks (an ensemble's members; K = 1 for one network): one
/// thread block per sample and member runs the whole time loop, threads over the neurons, with the per-neuron arithmetic of models/lif_math.h (the CPU loop's). The
/// recurrence W s_{t-1} is gathered over the neurons that spiked (a sorted spike list in shared
/// memory, so the sum runs in presynaptic order as on the CPU); so is the readout current.
///
/// Layouts (row-major, contiguous), each with a leading member dimension K that the shapes below
/// leave out: drive/mem [T, B, N]; spk [T, B, N] uint8; counts [B, N]; wt = W^T [N, N] (row j =
/// the weights leaving neuron j); beta [N] (clamped); wot = W_out^T [N, C]; bo, rb [C];
/// rmem [T, B, C].
#include <cstdint>

#include <cuda_runtime_api.h>

#include "models/lif_math.h"

namespace sernn::cuda {

/// Forward. `mem` may alias `drive` (step t reads drive_t before writing mem_t in place).
/// counts must be zero on entry. Returns the launch status (cudaSuccess or the launch error).
template <class T>
cudaError_t lif_forward(const T* drive, const T* wt, const T* beta, const T* wot, const T* bo, const T* rb, T* mem,
                        uint8_t* spk, T* counts, T* rmem, int64_t members, int64_t steps, int64_t batch,
                        int64_t neurons, int64_t classes, T thr, ResetMode mode, cudaStream_t stream);

/// Backward. In: g_rm = dL/d rmem [T, B, C], g_counts = dL/d counts [B, N], w [N, N] (out, in),
/// wo = W_out [C, N], beta [N] (clamped), rb [C], mem from the forward. Out: gco [T, B, C]
/// (dL/d readout current per step), gcur [T, B, N] (dL/d current; may alias mem: step t reads
/// mem_t and mem_{t-1} before writing gcur_t in place), gbeta_rows [B, N] (dL/dβ per sample; zero on
/// entry), gv [B, N] scratch.
template <class T>
cudaError_t lif_backward(const T* g_rm, const T* g_counts, const T* w, const T* wo, const T* beta, const T* rb,
                         const T* mem, T* gco, T* gcur, T* gbeta_rows, T* gv, int64_t members, int64_t steps,
                         int64_t batch, int64_t neurons, int64_t classes, T thr, T slope, ResetMode mode,
                         cudaStream_t stream);

/// Largest N the kernels take (shared memory: a spike list and two current rows per block).
constexpr int64_t kMaxNeurons = 8192;
/// Dynamic shared memory per block: the forward's spike list [N] (int), the backward's two
/// current rows and the readout gradient [2N + C] of T. The caller checks these against the
/// device's limit (sharedMemPerBlockOptin) for a clear error before launching.
constexpr size_t forward_shared_bytes(int64_t neurons) { return static_cast<size_t>(neurons) * sizeof(int); }
constexpr size_t backward_shared_bytes(int64_t neurons, int64_t classes, size_t element) {
  return static_cast<size_t>(2 * neurons + classes) * element;
}
/// Most members per launch (the grid's second dimension).
constexpr int64_t kMaxMembers = 65535;

}  // namespace sernn::cuda
