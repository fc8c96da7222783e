// libFuzzer target: the SHD HDF5 reader on arbitrary file contents.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/errors.h"
#include "tasks/shd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/sernn_fuzz_shd_" + std::to_string(getpid()) + ".h5";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    auto d = sernn::read_shd_in_process(path);
    // The reader's promise: consistent offsets, valid units and labels.
    if (d.offsets.size() != d.labels.size() + 1 || d.offsets.back() != static_cast<int64_t>(d.units.size()))
      __builtin_trap();
    for (auto u : d.units)
      if (u < 0 || u >= sernn::kShdUnits) __builtin_trap();
  } catch (const sernn::InputError&) {
  }
  return 0;
}
