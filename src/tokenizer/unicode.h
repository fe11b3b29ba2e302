// tokenizer/unicode.h — the character classes the Llama 3 pre-tokenizer regex needs.
//
//   si::Utf8Char c = si::utf8_next(p, end);   // c.cls & si::kClsLetter, c.len bytes
//
// Classes follow Hugging Face tokenizers' regex engine (Oniguruma, Unicode mode):
//   \p{L}  general category Lu Ll Lt Lm Lo (utf8proc's tables)
//   \p{N}  general category Nd Nl No
//   \s     the Unicode White_Space property: U+0009-000D, U+0020, U+0085, U+00A0, U+1680,
//          U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000. Not U+200B, not U+FEFF
//          (JavaScript's \s includes U+FEFF: that is where the npm peer differs).
// A byte that does not start a valid UTF-8 sequence (truncated, overlong, surrogate, > U+10FFFF)
// is one character of its own with no class, so any byte string can be encoded and decoded back.
#pragma once

#include <cstddef>
#include <cstdint>

namespace si {

enum : uint8_t {
  kClsLetter = 1,   // \p{L}
  kClsNumber = 2,   // \p{N}
  kClsSpace = 4,    // \s
  kClsNewline = 8,  // \r or \n (also kClsSpace)
};

struct Utf8Char {
  uint32_t cp;   // code point (the byte itself for an invalid sequence)
  uint8_t len;   // bytes, 1..4
  uint8_t cls;   // kCls* bits
};

// Class bits of a code point.
uint8_t unicode_class(uint32_t cp);

// Decodes the character at p (p < end). Never reads past end. ASCII is decoded inline.
Utf8Char utf8_next_multibyte(const uint8_t* p, const uint8_t* end);
extern const uint8_t kAsciiClass[128];
inline Utf8Char utf8_next(const uint8_t* p, const uint8_t* end) {
  if (*p < 0x80) return {*p, 1, kAsciiClass[*p]};
  return utf8_next_multibyte(p, end);
}

// True when [p, p+n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool utf8_valid(const char* p, size_t n);

}  // namespace si
