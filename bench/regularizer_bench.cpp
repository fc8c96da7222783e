#include "bench/regularizer_bench.h"

#include <utility>

#include <fmt/format.h>

#include "core/geometry.h"
#include "regularizers/penalties.h"

namespace sernn {
namespace {

/// Coordinates for N neurons: the 5x5x4 grid for 100, else a near-cubic grid cut to N.
torch::Tensor bench_coords(int64_t n) {
  if (n == 100) return grid_coordinates({5, 5, 4});
  int64_t side = 1;
  while (side * side * side < n) ++side;
  return grid_coordinates({side, side, side}).slice(0, 0, n);
}

const char* mode_name(CommGrad g) {
  switch (g) {
    case CommGrad::Full: return "full";
    case CommGrad::Detached: return "detached";
    case CommGrad::AutogradMatrixExp: return "autograd_matrix_exp";
  }
  return "?";
}

}  // namespace

void run_regularizer_bench(const RegularizerBenchOptions& o, BenchReport& report) {
  for (int64_t n : o.n) {
    const auto distance = distance_matrix(bench_coords(n));
    for (int64_t k : o.k) {
      const double matmul_gflop = 2.0 * n * n * n * k / 1e9;
      if (matmul_gflop > o.max_matmul_gflop) {
        if (o.verbose)
          fmt::print("skip n={} k={}: one product is {:.0f} GFLOP > --max-matmul-gflop {}\n", n, k, matmul_gflop,
                     o.max_matmul_gflop);
        continue;
      }
      torch::manual_seed(0);
      auto w0 = (torch::randn({k, n, n}, torch::TensorOptions().dtype(o.dtype)) / std::sqrt(static_cast<double>(n)))
                    .to(o.device);
      for (const auto& name : o.penalties) {
        const bool has_comm = name == "comm" || name == "sernn";
        std::vector<CommGrad> modes =
            has_comm ? std::vector<CommGrad>{CommGrad::Full, CommGrad::Detached, CommGrad::AutogradMatrixExp}
                     : std::vector<CommGrad>{CommGrad::Detached};
        for (CommGrad mode : modes) {
          WiringPenaltyOptions po;
          po.kind = name;
          po.distance = distance;
          po.comm_grad = mode;
          po.strength = Strength::Out;
          WiringPenalty penalty(po);
          auto w = w0.clone().requires_grad_(true);
          // Bigger cases get fewer repeats so the whole benchmark stays in minutes.
          const int repeats = matmul_gflop > 2.0 ? std::max(1, o.repeats / 3) : o.repeats;
          const double fwd = time_ms(
              [&] {
                torch::NoGradGuard g;
                penalty(w).sum();
              },
              o.device, 1, repeats);
          const double fwd_bwd = time_ms(
              [&] {
                w.mutable_grad() = torch::Tensor();
                penalty(w).sum().backward();
              },
              o.device, 1, repeats);
          nlohmann::json r = {{"impl", has_comm && mode == CommGrad::AutogradMatrixExp ? "libtorch" : "sernn"},
                              {"penalty", name},
                              {"mode", has_comm ? mode_name(mode) : "plain"},
                              {"n", n},
                              {"k", k},
                              {"dtype", o.dtype == torch::kFloat64 ? "float64" : "float32"},
                              {"fwd_ms", fwd},
                              {"fwd_bwd_ms", fwd_bwd}};
          if (o.verbose)
            fmt::print("{:<6} {:<20} n={:<5} k={:<3} fwd {:9.3f} ms  fwd+bwd {:9.3f} ms\n", name,
                       r["mode"].get<std::string>(), n, k, fwd, fwd_bwd);
          report.add(std::move(r));
        }
      }
    }
  }
  // Speed-ups against the baseline of the same (penalty, n, k), for the table and the JSON.
  for (auto& r : report.results()) {
    if (r["mode"] != "full" && r["mode"] != "detached") continue;
    for (const auto& b : std::as_const(report).results())
      if (b["mode"] == "autograd_matrix_exp" && b["penalty"] == r["penalty"] && b["n"] == r["n"] && b["k"] == r["k"])
        r["speedup_fwd_bwd"] = b["fwd_bwd_ms"].get<double>() / r["fwd_bwd_ms"].get<double>();
  }
}

}  // namespace sernn
