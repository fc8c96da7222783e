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
#include <cstdint>
#include <functional>
#include <string>

namespace sernn {

/// Runs fn(b0, b1) over [begin, end) in chunks of at least `grain` (and `chunks_per_thread` per
/// thread: more balances better under load, fewer makes longer inner loops), on the pool and the
/// calling thread. Returns when every chunk is done; rethrows the first exception of any chunk.
/// Runs inline when the pool has no workers, the range is one chunk, or called from a chunk.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                  int64_t chunks_per_thread = 1);

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
/// own intra-op threads stay at 1 unless the hidden layer is large (N >= 512), where its GEMMs
/// are big enough to pay for a parallel region each.
ThreadChoice choose_threads(int64_t requested, int64_t batch, int64_t hidden, int64_t cores);

/// choose_threads with the cores available, applied (the pool size and at::set_num_threads).
ThreadChoice configure_threads(int64_t requested, int64_t batch, int64_t hidden);

/// Every block from the heap, freed blocks kept for reuse (no mmap, no trimming): otherwise large
/// buffers are page-faulted anew every batch (60 % of a rate epoch's time here, and of a large
/// ensemble's). Call once at program start.
void configure_allocator();

}  // namespace sernn
