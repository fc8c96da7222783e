#include "bench/train_bench.h"

#include <malloc.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <sstream>

#include <fmt/format.h>

#include "core/parallel.h"
#include "core/trainer.h"
#include "models/rate_rnn.h"
#include "models/spiking_rnn.h"

#ifdef SERNN_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace sernn {
namespace {

double proc_status_mb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) {
      std::istringstream ss(line.substr(std::string(field).size()));
      double kb = 0;
      ss >> kb;
      return kb / 1024.0;
    }
  return 0.0;
}

struct GemmShape {
  int64_t m, k, n, count;
};

/// The GEMMs of one training step (forward and backward) of the network.
std::vector<GemmShape> step_gemms(bool spiking, int64_t inputs, int64_t n, int64_t classes, int64_t t, int64_t b) {
  const int64_t tb = t * b;
  std::vector<GemmShape> g{
      {tb, inputs, n, 1},   // input projection
      {b, n, n, t},         // recurrent product per step
      {tb, n, classes, 1},  // readout current (spiking: all steps; rate: final state, counted as all below)
      {inputs, tb, n, 1},   // input weight gradient
      {b, n, n, t},         // backward through the recurrence per step
      {n, tb, n, 1},        // recurrent weight gradient
      {tb, classes, n, 1},  // gradient into the spikes/hidden states
      {classes, tb, n, 1},  // readout weight gradient
  };
  if (!spiking)  // the rate readout sees only the last state
    for (auto& s : g)
      if (s.n == classes || s.m == classes || s.k == classes) s.count = 0;
  return g;
}

double gemm_flops(const std::vector<GemmShape>& gs) {
  double f = 0;
  for (const auto& g : gs) f += 2.0 * g.m * g.k * g.n * g.count;
  return f;
}

double time_gemms(const std::vector<GemmShape>& gs, const torch::Device& device, int repeats) {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> ops;
  for (const auto& g : gs)
    if (g.count > 0)
      ops.emplace_back(torch::randn({g.m, g.k}, torch::TensorOptions().device(device)),
                       torch::randn({g.k, g.n}, torch::TensorOptions().device(device)));
  return time_ms(
      [&] {
        size_t i = 0;
        for (const auto& g : gs) {
          if (g.count == 0) continue;
          auto& [a, b] = ops[i++];
          for (int64_t c = 0; c < g.count; ++c) torch::mm(a, b);
        }
      },
      device, 1, repeats);
}

/// K threads spinning (a co-runner: a build, another sweep) for the lifetime of the object.
class BusyThreads {
 public:
  explicit BusyThreads(int64_t k) {
    for (int64_t i = 0; i < k; ++i)
      threads_.emplace_back([this] {
        volatile uint64_t x = 0;
        while (!stop_.load(std::memory_order_relaxed)) x = x + 1;
      });
  }
  ~BusyThreads() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace

double current_rss_mb() { return proc_status_mb("VmRSS:"); }
double peak_rss_mb() { return proc_status_mb("VmHWM:"); }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

/// Peak memory of what runs between construction and peak_mb(), in MB above the start: the
/// CPU's resident set (malloc_trim first; Linux clear_refs) or the CUDA caching allocator's peak.
/// -1 where it cannot be measured.
class PeakMemory {
 public:
  explicit PeakMemory(torch::Device device) : device_(device) {
    malloc_trim(0);
    base_mb_ = current_rss_mb();
    cpu_peak_ = device.is_cpu() && reset_peak_rss();
#ifdef SERNN_HAS_CUDA
    if (device.is_cuda()) {
      c10::cuda::CUDACachingAllocator::resetPeakStats(index());
      base_mb_ = c10::cuda::CUDACachingAllocator::getDeviceStats(index()).allocated_bytes[0].current / 1048576.0;
    }
#endif
  }
  double peak_mb() const {
    double peak = cpu_peak_ ? peak_rss_mb() - base_mb_ : -1.0;
#ifdef SERNN_HAS_CUDA
    if (device_.is_cuda())
      peak = c10::cuda::CUDACachingAllocator::getDeviceStats(index()).allocated_bytes[0].peak / 1048576.0 - base_mb_;
#endif
    return peak;
  }

 private:
  int index() const { return device_.index() < 0 ? 0 : device_.index(); }
  torch::Device device_;
  double base_mb_ = 0;
  bool cpu_peak_ = false;
};

/// Speed and memory of each impl against `reference` of the same case.
void add_reference_ratios(BenchReport& report) {
  for (auto& r : report.results()) {
    if (r.value("impl", "") == "reference") continue;
    for (const auto& b : std::as_const(report).results())
      if (b.value("impl", "") == "reference" && b["hidden"] == r["hidden"] && b["steps"] == r["steps"]) {
        r["speedup_vs_reference"] = b["fwd_bwd_ms"].get<double>() / r["fwd_bwd_ms"].get<double>();
        if (r["peak_mem_mb"].is_number() && b["peak_mem_mb"].is_number() && r["peak_mem_mb"].get<double>() > 0)
          r["mem_ratio_vs_reference"] = b["peak_mem_mb"].get<double>() / r["peak_mem_mb"].get<double>();
      }
  }
}

void run_train_bench(const TrainBenchOptions& o, BenchReport& report) {
  const bool spiking = o.model == "shd";
  const int64_t inputs = spiking ? 700 : 8, classes = spiking ? 20 : 4;
  // The allocator as training configures it (large blocks reused from the heap: without it the
  // step times measure page faults); malloc_trim before each case's baseline returns freed
  // memory, so each case's peak is its own.
  configure_allocator();
  for (int64_t n : o.hidden)
    for (int64_t t : o.steps) {
      // LibTorch's own threads as training would set them for this hidden size (core/parallel.h).
      configure_threads(parallel_threads(), o.batch, n);
      const auto gemms = step_gemms(spiking, inputs, n, classes, t, o.batch);
      const double flops = gemm_flops(gemms);
      const double gemm_ms = time_gemms(gemms, o.device, o.repeats);
      for (const auto& impl : o.impls) {
        torch::manual_seed(0);
        std::shared_ptr<Network> net;
        if (spiking) net = SpikingRNN(SpikingRNNOptions(inputs, n, classes).reference(impl == "reference")).ptr();
        else net = RateRNN(RateRNNOptions(inputs, n, classes).reference(impl == "reference")).ptr();
        net->to(o.device);
        torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
        auto x = spiking ? (torch::rand({t, o.batch, inputs}) < 0.02).to(torch::kFloat32)
                         : torch::rand({t, o.batch, inputs});
        x = x.to(o.device);
        auto y = torch::randint(0, classes, {o.batch}, torch::kInt64).to(o.device);
        auto step = [&] {
          adam.zero_grad();
          auto out = net->run(x, true);
          classification_loss(out.logits, y).first.backward();
          adam.step();
          net->after_step();
        };
        step();  // warm-up: allocations, Adam state
        synchronize(o.device);
        const PeakMemory memory(o.device);
        const double ms = time_ms(step, o.device, 0, o.repeats);
        const double peak_mb = memory.peak_mb();
        nlohmann::json r = {{"model", o.model},
                            {"impl", impl},
                            {"hidden", n},
                            {"batch", o.batch},
                            {"steps", t},
                            {"fwd_bwd_ms", ms},
                            {"ms_per_step", ms / t},
                            {"samples_per_s", o.batch / (ms / 1000.0)},
                            {"peak_mem_mb", peak_mb >= 0 ? nlohmann::json(peak_mb) : nlohmann::json()},
                            {"gflops", flops / (ms * 1e6)},
                            {"gemm_gflops", flops / (gemm_ms * 1e6)},
                            {"roofline_ratio", gemm_ms / ms}};
        if (o.load > 0) {
          BusyThreads busy(o.load);
          const double loaded_ms = time_ms(step, o.device, 0, o.repeats);
          r["load_threads"] = o.load;
          r["fwd_bwd_ms_loaded"] = loaded_ms;
          r["samples_per_s_loaded"] = o.batch / (loaded_ms / 1000.0);
          r["loaded_vs_quiet"] = ms / loaded_ms;
          if (o.verbose)
            fmt::print("{} {:<9} N={:<5} T={:<5} B={}: {:9.1f} ms/iter  {:8.1f} samples/s with {} busy thread{}\n",
                       o.model, impl, n, t, o.batch, loaded_ms, r["samples_per_s_loaded"].get<double>(), o.load,
                       o.load == 1 ? "" : "s");
        }
        if (o.verbose)
          fmt::print(
              "{} {:<9} N={:<5} T={:<5} B={}: {:9.1f} ms/iter  {:8.1f} samples/s  peak {:8.1f} MB  {:6.1f} GFLOP/s "
              "(GEMM {:6.1f})\n",
              o.model, impl, n, t, o.batch, ms, r["samples_per_s"].get<double>(), peak_mb, r["gflops"].get<double>(),
              r["gemm_gflops"].get<double>());
        report.add(std::move(r));
      }
    }
  add_reference_ratios(report);
}

}  // namespace sernn
