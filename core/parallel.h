#pragma once
/// sernn's CPU parallelism: a small pool of sleeping worker threads with dynamic chunking, and the
/// process-wide thread and allocator settings (issue: fast on a shared machine).
///
/// Why not OpenMP (at::parallel_for) for the hot loops: an OpenMP region splits its range
/// statically and ends in a barrier, so when another process holds a core, every region waits
/// for the descheduled thread's share (measured here: the rate one-choice epoch at 2 threads
/// beside two busy threads took 35 s instead of 2.7 s at 1 thread). In this pool the caller
/// claims chunks too and waits only for chunks a worker has actually started; a worker that is
/// not scheduled simply finds nothing left. Workers sleep on a condition variable between calls
/// (no spinning that would starve a co-runner). Inside a chunk, LibTorch ops and BLAS run
/// single-threaded (omp_set_num_threads(1) on the workers, and on the caller for the call).
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>

namespace sernn {

/// Bitwise reproducibility (issue 26): parallel_for's chunks depend on the thread count, so a
/// loop body must not reduce across its chunk (a partial sum per chunk would be rounded
/// differently at another thread count), and every BLAS call must have a shape that does not depend
/// on the chunk either: a GEMM's rounding depends on its shape (OpenBLAS picks kernels and
/// blocking by M, N and K, and a threaded GEMM by the thread count). The helpers below give loops
/// pieces of work fixed by the problem's shape; LibTorch's own intra-op threads stay at 1 on the CPU
/// (their reductions split by the thread count).

/// Runs fn(b0, b1) over [begin, end) in chunks of at least `grain` (and `chunks_per_thread` per
/// thread: more balances better under load, fewer makes longer inner loops), on the pool and the
/// calling thread. Returns when every chunk is done; rethrows the first exception of any chunk.
/// Runs inline when the pool has no workers, the range is one chunk, or called from a chunk.
/// Inside fn, LibTorch's ops and BLAS run on the calling thread only, in every case.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                  int64_t chunks_per_thread = 1);

/// Batch rows one piece of a per-row loop takes (rate and LIF sequences): a constant, so that
/// each product a row takes part in has the same shape at any thread count and in any ensemble.
constexpr int64_t kRowBlock = 32;

/// Runs fn(k, b0, b1) for every member k < K and every block [b0, b1) of `rows` rows of [0, B),
/// the K x ceil(B / rows) pieces spread over the pool. A piece is the unit of work: what fn
/// computes for it must not depend on which thread runs it, or with which other pieces.
void for_row_blocks(int64_t K, int64_t B, const std::function<void(int64_t, int64_t, int64_t)>& fn,
                    int64_t rows = kRowBlock);

/// Output rows of one piece of a blocked product (blocked_matmul).
constexpr int64_t kProductRows = 64;

/// a @ b (+ bias on every row) for a [M, P], b [P, Q], bias [Q] or batches a [K, M, P],
/// b [K, P, Q], bias [K, Q] (a and b may be transposed views; bias may be undefined). On the CPU
/// without grad mode: one single-threaded GEMM (addmm with the bias) per member and block of
/// kProductRows rows of a, the pieces spread over the pool, so the result is the same bits at any
/// thread count, and member k of a batch is the same bits as the product of a[k] and b[k] alone.
/// Elsewhere (other devices, or recording autograd): torch::matmul (+ bias).
at::Tensor blocked_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias = {});

/// Threads of the pool (the caller included); 1 until set_parallel_threads.
int64_t parallel_threads();
/// Sets the pool to `threads` threads (the caller included; 1 = no workers).
void set_parallel_threads(int64_t threads);

/// Cores this process may use: the CPU affinity mask, capped by a cgroup CPU quota (v2 cpu.max
/// or v1 cfs_quota/period) rounded up.
int64_t available_cores();
/// The cgroup quota in cores from the text of cpu.max ("max 100000" -> 0 = none, "150000 100000"
/// -> 2), or from v1's quota and period (quota <= 0 -> 0).
int64_t cgroup_quota_cores(const std::string& cpu_max);
int64_t cgroup_quota_cores(int64_t quota_us, int64_t period_us);

/// What train.threads = 0 becomes, and why (printed once and recorded in config.json).
struct ThreadChoice {
  int64_t threads = 1;   ///< pool threads (sernn's own loops over the batch)
  int64_t intra_op = 1;  ///< LibTorch/BLAS threads for the ops outside those loops
  int64_t cores = 1;     ///< the cores available when choosing
  std::string reason;
};
/// requested > 0: that many pool threads, capped by nothing (the user asked). requested = 0: one
/// thread per `rows_per_thread` batch rows, at most the available cores. In both cases LibTorch's
/// own intra-op threads (and so BLAS's) stay at 1: its reductions and a threaded GEMM round
/// differently at another thread count (issue 26); sernn's pool parallelises the large products
/// instead, in pieces fixed by their shape (blocked_matmul). `hidden` only shows in the reason.
ThreadChoice choose_threads(int64_t requested, int64_t batch, int64_t hidden, int64_t cores);

/// choose_threads with the cores available, applied (the pool size and at::set_num_threads).
ThreadChoice configure_threads(int64_t requested, int64_t batch, int64_t hidden);

/// Every block from the heap, freed blocks kept for reuse (no mmap, no trimming): otherwise large
/// buffers are page-faulted anew every batch (60 % of a rate epoch's time here, and of a large
/// ensemble's). Call once at program start.
void configure_allocator();

}  // namespace sernn
