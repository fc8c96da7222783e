#pragma once
/// The benchmark report shared by every `sernn bench ...` (DESIGN §7): an object with
/// `device`, `threads`, `torch_version` and `results`, a list of flat records (parameters and
/// figures of one measured case). Also prints the records as an aligned table.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sernn {

class BenchReport {
 public:
  BenchReport(const torch::Device& device, int64_t threads);
  void add(nlohmann::json record);
  const std::vector<nlohmann::json>& results() const { return results_; }
  std::vector<nlohmann::json>& results() { return results_; }
  nlohmann::json to_json() const;
  /// Aligned table of the records, columns in first-seen order.
  std::string table() const;
  /// Writes to_json() atomically to `path`.
  void write(const std::string& path) const;

 private:
  std::string device_;
  int64_t threads_;
  std::vector<nlohmann::json> results_;
};

/// Waits for queued work on `device` (CUDA); a no-op on the CPU.
void synchronize(const torch::Device& device);

/// Median milliseconds of `fn` over `repeats` runs after `warmup` runs, synchronising the
/// device around each run.
double time_ms(const std::function<void()>& fn, const torch::Device& device, int warmup, int repeats);

/// Human description of a device ("cpu (model name)", "cuda:0 (NVIDIA H100 ...)").
std::string describe_device(const torch::Device& device);

}  // namespace sernn
