#pragma once
/// UTF-8 well-formedness (issue 39), checked on a user's text before a parser sees it: toml++ 3.3
/// reaches __builtin_unreachable() on malformed UTF-8 (toml++ issue 295), which is undefined
/// behaviour however the parse ends. Well-formed means RFC 3629 / Unicode §3.9 Table 3-7: no
/// continuation byte without a lead, no lead without its continuations, no overlong form, no
/// surrogate (U+D800..U+DFFF), nothing above U+10FFFF, never the bytes C0, C1, F5..FF.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sernn {

/// The first malformed sequence of a text: its byte offset and what is wrong, in words.
struct Utf8Problem {
  size_t offset = 0;
  std::string what;  ///< e.g. "stray continuation byte 0xAF"
};

/// The first malformed sequence of `text`, or nothing when it is well-formed UTF-8.
std::optional<Utf8Problem> find_invalid_utf8(std::string_view text);

/// The line and column (from 1; columns in characters) of byte `offset` of `text`, whose bytes
/// before it are well-formed.
std::pair<int64_t, int64_t> utf8_position(std::string_view text, size_t offset);

/// An InputError "ORIGIN:LINE:COLUMN: invalid UTF-8: WHAT" at the first malformed sequence of
/// `text` (lines from 1, columns in characters from 1); nothing when it is well-formed.
void check_utf8(std::string_view text, const std::string& origin);

}  // namespace sernn
