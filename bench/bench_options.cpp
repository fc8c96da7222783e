#include "bench/bench_options.h"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/errors.h"

namespace sernn {

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v <= 0) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw InputError(fmt::format("{}: '{}' is not a list of positive integers", flag, text));
    }
  }
  if (out.empty()) throw InputError(fmt::format("{}: empty list", flag));
  return out;
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float64") return torch::kFloat64;
  throw InputError(fmt::format("--dtype: unknown dtype '{}' (known: float32, float64)", name));
}

std::vector<std::string> parse_word_list(const std::string& text, const std::string& flag,
                                         const std::vector<std::string>& known) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string w; std::getline(ss, w, ',');) {
    if (std::find(known.begin(), known.end(), w) == known.end())
      throw InputError(fmt::format("{}: unknown value '{}' (known: {})", flag, w, fmt::join(known, ", ")));
    out.push_back(w);
  }
  if (out.empty()) throw InputError(fmt::format("{}: empty list", flag));
  return out;
}

}  // namespace sernn
