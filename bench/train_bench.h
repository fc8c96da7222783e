#pragma once
/// `sernn bench train`: one training step (forward + backward + Adam step) of the SHD spiking
/// network (or the rate network) on random input, per (hidden, steps, impl) case:
///   fwd_bwd_ms     median wall time of one step (ms)
///   ms_per_step    fwd_bwd_ms / T (per simulated time step)
///   samples_per_s  batch / step time
///   peak_mem_mb    peak memory of the step: CUDA allocator peak, or on the CPU the growth of
///                  the process's resident set (VmHWM after minus VmRSS before)
///   gflops         useful GEMM FLOPs of the step / step time
///   gemm_gflops    the same GEMM list timed alone on the same device, same shapes
///   roofline_ratio gflops / gemm_gflops (1 = the step runs at the device's GEMM speed)
/// With `load` K > 0 also: load_threads (K), fwd_bwd_ms_loaded, samples_per_s_loaded and
/// loaded_vs_quiet (samples_per_s_loaded / samples_per_s), timed while K threads spin.
#include <string>
#include <vector>

#include "bench/bench_json.h"

namespace sernn {

struct TrainBenchOptions {
  std::string model = "shd";  ///< shd (spiking, 700 -> N -> 20) or rate (8 -> N -> 4)
  std::vector<int64_t> hidden{100, 1024};
  std::vector<int64_t> steps{200, 1000};
  std::vector<std::string> impls{"fast", "reference"};
  int64_t batch = 128;
  int repeats = 3;
  torch::Device device = torch::kCPU;
  bool verbose = true;
  /// Busy threads of the benchmark's own spinning beside each case's second timing (0 = none):
  /// the throughput on a shared machine, reported next to the quiet figure.
  int64_t load = 0;
};

void run_train_bench(const TrainBenchOptions& options, BenchReport& report);

/// Process memory in MB: current resident set and the peak since the last reset_peak_rss().
double current_rss_mb();
double peak_rss_mb();
/// Resets the kernel's peak-RSS mark (Linux /proc/self/clear_refs); false if not possible.
bool reset_peak_rss();

}  // namespace sernn
