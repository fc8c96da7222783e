// Issue 39: the UTF-8 well-formedness check that runs before toml++ and nlohmann-json see a
// user's text, with each kind of malformed sequence (Unicode §3.9, Table 3-7).
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/utf8.h"

using namespace sernn;

namespace {
std::string what_of(const std::string& text) {
  const auto p = find_invalid_utf8(text);
  return p ? p->what : "";
}
size_t offset_of(const std::string& text) { return find_invalid_utf8(text).value().offset; }
}  // namespace

TEST(Utf8, WellFormedTextPasses) {
  for (const std::string ok :
       {std::string(), std::string("plain ascii\n\t"), std::string("caf\xc3\xa9"), std::string("\xc2\x80"),
        std::string("\xdf\xbf"), std::string("\xe0\xa0\x80"), std::string("\xed\x9f\xbf"), std::string("\xee\x80\x80"),
        std::string("\xef\xbf\xbf"), std::string("\xf0\x90\x80\x80"), std::string("\xf4\x8f\xbf\xbf"),
        std::string("\xc2\xa7 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string("a\0b", 3)})
    EXPECT_FALSE(find_invalid_utf8(ok).has_value()) << ok;
}

TEST(Utf8, EachKindOfMalformedSequenceIsFoundWhereItStarts) {
  // A stray continuation byte.
  EXPECT_EQ(what_of("ab\x80"), "stray continuation byte 0x80");
  EXPECT_EQ(offset_of("ab\x80"), 2u);
  EXPECT_EQ(what_of("\xcb\xaf\xaf"), "stray continuation byte 0xAF") << "the issue's bytes: one too many";
  EXPECT_EQ(offset_of("\xcb\xaf\xaf"), 2u);
  // Truncated: at the end of the text, and followed by a byte that is not a continuation.
  EXPECT_NE(what_of("x\xc2").find("truncated sequence: 0xC2 at the end needs 1 continuation byte"), std::string::npos);
  EXPECT_NE(what_of("\xe2\x82").find("truncated"), std::string::npos);
  EXPECT_NE(what_of("\xf0\x9f\x98").find("needs 3 continuation bytes"), std::string::npos);
  EXPECT_NE(what_of("\xc2"
                    "f")
                .find("truncated sequence: 0xC2 needs 1 continuation byte, byte 2 is 0x66"),
            std::string::npos);
  EXPECT_NE(what_of("\xcc\xaa\xe2(\xa1").find("byte 2 is 0x28"), std::string::npos);
  EXPECT_EQ(offset_of("\xcc\xaa\xe2(\xa1"), 2u);
  // Overlong forms: never C0 / C1, and E0 / F0 with too small a second byte.
  EXPECT_EQ(what_of("\xc0\xaf"), "byte 0xC0 is never UTF-8");
  EXPECT_EQ(what_of("\xc1\xbf"), "byte 0xC1 is never UTF-8");
  EXPECT_EQ(what_of("\xe0\x80\xaf"), "0xE0 0x80 is an overlong form");
  EXPECT_EQ(what_of("\xf0\x8f\xbf\xbf"), "0xF0 0x8F is an overlong form");
  // Surrogates U+D800..U+DFFF.
  EXPECT_EQ(what_of("\xed\xa0\x80"), "0xED 0xA0 is a surrogate (U+D800..U+DFFF)");
  EXPECT_EQ(what_of("\xed\xbf\xbf"), "0xED 0xBF is a surrogate (U+D800..U+DFFF)");
  // Above U+10FFFF, and bytes that never occur.
  EXPECT_EQ(what_of("\xf4\x90\x80\x80"), "0xF4 0x90 is above U+10FFFF");
  EXPECT_EQ(what_of("\xf5\x80\x80\x80"), "byte 0xF5 is never UTF-8");
  EXPECT_EQ(what_of("\xff"), "byte 0xFF is never UTF-8");
}

TEST(Utf8, TheErrorNamesOriginLineAndColumnInCharacters) {
  try {
    check_utf8("a = 1\n# caf\xc3\xa9 \xa7\n", "c.toml");
    FAIL() << "accepted a stray continuation byte";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "c.toml:2:8: invalid UTF-8: stray continuation byte 0xA7");
  }
  EXPECT_NO_THROW(check_utf8("s = \"\xc2\xa7\"", "ok.toml"));
}
