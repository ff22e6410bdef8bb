#include <gtest/gtest.h>

#include "executor/text/byte_level.h"
#include "executor/text/utf8.h"

namespace zeroplan::text {
namespace {

TEST(Utf8, LossyReplacesMaximalInvalidSubparts) {
  EXPECT_EQ(utf8_lossy("abc"), "abc");
  EXPECT_EQ(utf8_lossy("\xE4\xBD\xA0"), "\xE4\xBD\xA0");             // 你
  EXPECT_EQ(utf8_lossy("a\xE4\xBD"), "a\xEF\xBF\xBD");               // truncated 3-byte: one U+FFFD
  EXPECT_EQ(utf8_lossy("\xE0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");     // overlong start: two
  EXPECT_EQ(utf8_lossy("\xFF" "b"), "\xEF\xBF\xBD" "b");
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST(Utf8, FindsFirstInvalidByte) {
  EXPECT_EQ(find_invalid_utf8("héllo 😀"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xC3"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);
}

TEST(ByteLevel, Gpt2Mapping) {
  const auto& m = byte_level_map();
  EXPECT_EQ(m.symbol(' '), "\xC4\xA0");   // Ġ U+0120
  EXPECT_EQ(m.symbol('\n'), "\xC4\x8A");  // Ċ U+010A
  EXPECT_EQ(m.symbol('A'), "A");
  EXPECT_EQ(m.symbol(0xAD), "\xC5\x83");  // soft hyphen is the 68th non-printable: U+0143
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string back;
  ASSERT_TRUE(m.decode_append(m.encode(all), back));
  EXPECT_EQ(back, all);
  std::string untouched = "x";
  EXPECT_FALSE(m.decode_append("<|im_start|>中", untouched));
  EXPECT_EQ(untouched, "x");
}

}  // namespace
}  // namespace zeroplan::text
