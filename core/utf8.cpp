#include "core/utf8.h"

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {

std::optional<Utf8Problem> find_invalid_utf8(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c < 0xC0) return Utf8Problem{i, fmt::format("stray continuation byte 0x{:02X}", c)};
    if (c < 0xC2 || c > 0xF4) return Utf8Problem{i, fmt::format("byte 0x{:02X} is never UTF-8", c)};
    const size_t need = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    // The second byte's range (Table 3-7) also excludes the overlong forms, the surrogates and
    // everything above U+10FFFF.
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    for (size_t k = 1; k <= need; ++k) {
      if (i + k >= text.size())
        return Utf8Problem{i, fmt::format("truncated sequence: 0x{:02X} at the end needs {} continuation byte{}", c,
                                          need, need > 1 ? "s" : "")};
      const unsigned char d = byte(i + k);
      if (d < 0x80 || d > 0xBF)
        return Utf8Problem{
            i, fmt::format("truncated sequence: 0x{:02X} needs {} continuation byte{}, byte {} is 0x{:02X}", c, need,
                           need > 1 ? "s" : "", k + 1, d)};
      if (k == 1 && (d < lo || d > hi)) {
        const char* why = c == 0xED   ? "a surrogate (U+D800..U+DFFF)"
                          : c == 0xF4 ? "above U+10FFFF"
                                      : "an overlong form";
        return Utf8Problem{i, fmt::format("0x{:02X} 0x{:02X} is {}", c, d, why)};
      }
    }
    i += need + 1;
  }
  return std::nullopt;
}

std::pair<int64_t, int64_t> utf8_position(std::string_view text, size_t offset) {
  int64_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') line++, col = 1;
    else if ((c & 0xC0) != 0x80) ++col;  // a lead byte or ASCII: one character
  }
  return {line, col};
}

void check_utf8(std::string_view text, const std::string& origin) {
  const auto problem = find_invalid_utf8(text);
  if (!problem) return;
  const auto [line, col] = utf8_position(text, problem->offset);
  throw InputError(fmt::format("{}:{}:{}: invalid UTF-8: {}", origin, line, col, problem->what));
}

}  // namespace sernn
