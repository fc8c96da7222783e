#pragma once
/// `sernn bench regularizer`: forward and forward+backward time of the penalties on random
/// recurrent weights [K, N, N] (K networks at once), for our communicability function in its
/// `full` and `detached` modes next to the baseline of LibTorch autograd through
/// torch::linalg_matrix_exp (mode `autograd_matrix_exp`), in the same run.
#include <string>
#include <vector>

#include "bench/bench_json.h"

namespace sernn {

struct RegularizerBenchOptions {
  std::vector<int64_t> n{100, 256, 1024};
  std::vector<int64_t> k{1, 64};
  std::vector<std::string> penalties{"l1", "space", "comm", "sernn"};
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
  int repeats = 5;
  /// Cases whose single N x N x N x K matrix product exceeds this many GFLOP are skipped
  /// (a 2-core CPU needs minutes for N = 1024, K = 64).
  double max_matmul_gflop = 20.0;
  bool verbose = true;
};

/// Runs every case and adds one record per (penalty, mode, n, k) to `report`.
void run_regularizer_bench(const RegularizerBenchOptions& options, BenchReport& report);

}  // namespace sernn
