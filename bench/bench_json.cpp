#include "bench/bench_json.h"

#include <algorithm>
#include <fstream>

#include <fmt/format.h>

#include "core/io.h"

#ifdef SERNN_HAS_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace sernn {

BenchReport::BenchReport(const torch::Device& device, int64_t threads)
    : device_(describe_device(device)), threads_(threads) {}

void BenchReport::add(nlohmann::json record) { results_.push_back(std::move(record)); }

nlohmann::json BenchReport::to_json() const {
  return {{"device", device_}, {"threads", threads_}, {"torch_version", TORCH_VERSION}, {"results", results_}};
}

std::string BenchReport::table() const {
  std::vector<std::string> cols;
  for (const auto& r : results_)
    for (auto it = r.begin(); it != r.end(); ++it)
      if (std::find(cols.begin(), cols.end(), it.key()) == cols.end()) cols.push_back(it.key());
  auto cell = [](const nlohmann::json& v) {
    if (v.is_null()) return std::string("-");
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return fmt::format("{:.4g}", v.get<double>());
    return v.dump();
  };
  std::vector<size_t> width(cols.size());
  for (size_t c = 0; c < cols.size(); ++c) {
    width[c] = cols[c].size();
    for (const auto& r : results_) width[c] = std::max(width[c], cell(r.value(cols[c], nlohmann::json())).size());
  }
  std::string out;
  for (size_t c = 0; c < cols.size(); ++c) out += fmt::format("{:>{}}  ", cols[c], width[c]);
  out += "\n";
  for (const auto& r : results_) {
    for (size_t c = 0; c < cols.size(); ++c)
      out += fmt::format("{:>{}}  ", cell(r.value(cols[c], nlohmann::json())), width[c]);
    out += "\n";
  }
  return out;
}

void BenchReport::write(const std::string& path) const { atomic_write_text(path, to_json().dump(2) + "\n"); }

void synchronize(const torch::Device& device) {
#ifdef SERNN_HAS_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
#else
  (void)device;
#endif
}

double time_ms(const std::function<void()>& fn, const torch::Device& device, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) fn();
  synchronize(device);
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    synchronize(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::string describe_device(const torch::Device& device) {
  if (device.is_cuda()) {
#ifdef SERNN_HAS_CUDA
    const auto* p = at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index());
    return fmt::format("{} ({})", device.str(), p->name);
#endif
    return device.str();
  }
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return "cpu (" + line.substr(line.find(':') + 2) + ")";
  return "cpu";
}

}  // namespace sernn
