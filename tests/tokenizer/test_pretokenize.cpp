#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tokenizer/pretokenize.h"

namespace si {
namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> pieces;
  for (size_t i = 0; i < text.size();) {
    const size_t j = llama3_piece_end(text, i);
    EXPECT_GT(j, i);
    pieces.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return pieces;
}

using V = std::vector<std::string>;

TEST(Pretokenize, WordsTakeOneLeadingNonLetter) {
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("(hello) \"x\""), (V{"(hello", ")", " \"", "x", "\""}));
  EXPECT_EQ(split("\tTab"), (V{"\tTab"}));
  EXPECT_EQ(split("\xC2\xA0word"), (V{"\xC2\xA0word"}));  // NBSP is \s but not \r\n: it leads the word
}

TEST(Pretokenize, ContractionsAreCaseInsensitive) {
  EXPECT_EQ(split("I'm he'LL we'Ve it's"), (V{"I", "'m", " he", "'LL", " we", "'Ve", " it", "'s"}));
  EXPECT_EQ(split("'sam"), (V{"'s", "am"}));
  EXPECT_EQ(split("'x"), (V{"'x"}));
  EXPECT_EQ(split("it'\xC5\xBF"), (V{"it", "'\xC5\xBF"}));  // U+017F folds to 's'
}

TEST(Pretokenize, NumbersComeInThrees) {
  EXPECT_EQ(split("1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(split("x 42"), (V{"x", " ", "42"}));
  EXPECT_EQ(split("\xC2\xBD\xC2\xB2"), (V{"\xC2\xBD\xC2\xB2"}));  // ½² are \p{N}
}

TEST(Pretokenize, PunctuationTakesOneSpaceAndTrailingNewlines) {
  EXPECT_EQ(split("a ...\n\nb"), (V{"a", " ...\n\n", "b"}));
  // A combining mark is not \p{L}: it leads the next word, or stands alone before a non-letter.
  EXPECT_EQ(split("e\xCC\x81t\xC3\xA9"), (V{"e", "\xCC\x81t\xC3\xA9"}));
  EXPECT_EQ(split("e\xCC\x81\xCC\x81."), (V{"e", "\xCC\x81\xCC\x81."}));
  EXPECT_EQ(split("  !!"), (V{" ", " !!"}));
}

TEST(Pretokenize, WhitespaceRunsFollowTheLookahead) {
  EXPECT_EQ(split("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split("a   "), (V{"a", "   "}));
  EXPECT_EQ(split("a \n  \n b"), (V{"a", " \n  \n", " b"}));
  EXPECT_EQ(split("x\r\n\r\ny"), (V{"x", "\r\n\r\n", "y"}));
  EXPECT_EQ(split(" 1"), (V{" ", "1"}));
  EXPECT_EQ(split("\t\t1"), (V{"\t", "\t", "1"}));
  // U+FEFF is not \s in HF's regex engine: it is a "punctuation" character of its own.
  EXPECT_EQ(split(" \xEF\xBB\xBFx"), (V{" \xEF\xBB\xBF", "x"}));
}

TEST(Pretokenize, InvalidUtf8BytesArePunctuation) {
  EXPECT_EQ(split("a\xFF\xFE b"), (V{"a", "\xFF\xFE", " b"}));
  EXPECT_EQ(split("\xC3"), (V{"\xC3"}));
}

}  // namespace
}  // namespace si
