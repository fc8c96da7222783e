// libFuzzer target: the CSV matrix reader (weights and coordinates).
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (bool header : {false, true}) {
    try {
      auto m = sernn::parse_matrix_csv(text, "fuzz.csv", header);
      if (m.dim() != 2 || !torch::isfinite(m).all().item<bool>()) __builtin_trap();  // the reader's promise
    } catch (const sernn::InputError&) {
    }
  }
  return 0;
}
