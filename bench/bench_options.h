#pragma once
/// The benchmarks' option values as `sernn bench` reads them: comma-separated lists and dtypes,
/// with InputErrors naming the flag and the value.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// "100,256,1024" -> {100, 256, 1024}; InputError naming `flag` for a non-positive or malformed item.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag);

/// "fast,reference" -> its words, each one of `known`; InputError naming `flag` otherwise.
std::vector<std::string> parse_word_list(const std::string& text, const std::string& flag,
                                         const std::vector<std::string>& known);

/// "float32" or "float64"; InputError naming --dtype otherwise.
torch::ScalarType parse_dtype(const std::string& name);

}  // namespace sernn
