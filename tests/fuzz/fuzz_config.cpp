// libFuzzer target: the config parser (TOML, JSON, --set). Bad input must end in InputError.
#include <cstdint>
#include <string>

#include "run/config.h"
#include "core/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (bool json : {false, true}) {
    try {
      auto c = sernn::Config::from_string(text, json, "fuzz");
      (void)sernn::Config::from_json(c.to_json(), "fuzz").to_json().dump();
    } catch (const sernn::InputError&) {
    }
  }
  try {
    sernn::Config c;
    c.set(text.substr(0, text.find('\n')));
  } catch (const sernn::InputError&) {
  }
  return 0;
}
