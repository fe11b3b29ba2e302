#include <gtest/gtest.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace si {
namespace {

TEST(Unicode, WhiteSpaceIsTheUnicodePropertyNotJavaScriptsSet) {
  for (uint32_t cp : {0x09u, 0x0Bu, 0x0Cu, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u, 0x2029u,
                      0x202Fu, 0x205Fu, 0x3000u})
    EXPECT_EQ(unicode_class(cp), kClsSpace) << std::hex << cp;
  EXPECT_EQ(unicode_class(0x0A), kClsSpace | kClsNewline);
  EXPECT_EQ(unicode_class(0x0D), kClsSpace | kClsNewline);
  // Zero-width characters and the BOM are format characters (Cf), not \s.
  for (uint32_t cp : {0x200Bu, 0x200Cu, 0x200Du, 0xFEFFu, 0x180Eu, 0x1Cu}) EXPECT_EQ(unicode_class(cp), 0) << std::hex << cp;
}

TEST(Unicode, LettersAndNumbersFollowGeneralCategory) {
  for (uint32_t cp : {uint32_t('a'), uint32_t('Z'), 0xE9u, 0x3B1u, 0x436u, 0x627u, 0x4E2Du, 0x915u, 0x2B0u, 0x1F1u, 0x20000u})
    EXPECT_EQ(unicode_class(cp), kClsLetter) << std::hex << cp;
  for (uint32_t cp : {uint32_t('0'), 0xBDu, 0xB2u, 0x2160u, 0x0966u, 0x0663u, 0x2460u, 0x1D7CEu})
    EXPECT_EQ(unicode_class(cp), kClsNumber) << std::hex << cp;
  // Marks (Mn/Mc) and symbols are neither: the regex treats them like punctuation.
  for (uint32_t cp : {0x301u, 0x94Du, 0x93Eu, 0x20ACu, 0x1F6D2u, 0x1F3FBu, 0xFE0Fu, uint32_t('_')})
    EXPECT_EQ(unicode_class(cp), 0) << std::hex << cp;
}

TEST(Unicode, AsciiFastPathAgreesWithTables) {
  for (uint8_t b = 0; b < 128; ++b) {
    const Utf8Char c = utf8_next(&b, &b + 1);
    EXPECT_EQ(c.cls, unicode_class(b)) << int(b);
    EXPECT_EQ(c.len, 1);
  }
}

TEST(Unicode, Utf8DecodingRejectsMalformedSequencesOneByteAtATime) {
  auto next = [](std::string_view s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    return utf8_next(p, p + s.size());
  };
  EXPECT_EQ(next("\xC3\xA9").cp, 0xE9u);
  EXPECT_EQ(next("\xF0\x9F\x9B\x92").cp, 0x1F6D2u);
  EXPECT_EQ(next("\xF0\x9F\x9B\x92").len, 4);
  for (std::string_view bad : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xFF", "\xE2\x82"}) {
    const Utf8Char c = next(bad);
    EXPECT_EQ(c.len, 1);
    EXPECT_EQ(c.cls, 0);
  }
  EXPECT_TRUE(utf8_valid("a\xC3\xA9\xE2\x82\xAC", 6));
  EXPECT_FALSE(utf8_valid("a\xC3", 2));
}

TEST(ByteLevel, MapsLikeGpt2AndRoundTrips) {
  EXPECT_EQ(bytes_to_piece(" hello\n"), "\xC4\xA0hello\xC4\x8A");  // Ġhello Ċ
  EXPECT_EQ(byte_order(0), '!');
  EXPECT_EQ(byte_order(188), 0x00);  // the first unprintable byte follows the 188 printable ones
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(piece_to_bytes(bytes_to_piece(all)).value(), all);
  EXPECT_FALSE(piece_to_bytes("\xE2\x82\xAC").has_value());  // '€' is not in the alphabet
}

}  // namespace
}  // namespace si
