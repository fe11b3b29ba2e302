#include "tokenizer/pretokenize.h"

#include <cstdint>

#include "tokenizer/unicode.h"

namespace si {
namespace {

// Length of the contraction at p (p[0] == '\''), 0 if none. Case-insensitive as Oniguruma folds:
// 's' also matches U+017F LATIN SMALL LETTER LONG S (case folding maps it to 's').
size_t contraction_len(const uint8_t* p, const uint8_t* end) {
  const size_t avail = static_cast<size_t>(end - p);
  if (avail < 2) return 0;
  const uint8_t c1 = p[1] | 0x20;  // ASCII lower case (only compared with letters below)
  if (p[1] == 0xC5 && avail >= 3 && p[2] == 0xBF) return 3;  // 'ſ
  switch (c1) {
    case 's': case 't': case 'm': case 'd':
      if (p[1] >= 'A') return 2;
      return 0;
    case 'r': case 'v':
      if (avail >= 3 && (p[2] | 0x20) == 'e') return 3;
      return 0;
    case 'l':
      if (avail >= 3 && (p[2] | 0x20) == 'l') return 3;
      return 0;
    default:
      return 0;
  }
}

constexpr uint8_t kNotPunct = kClsSpace | kClsLetter | kClsNumber;

}  // namespace

size_t llama3_piece_end(std::string_view text, size_t begin) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const uint8_t* end = s + text.size();
  const uint8_t* p = s + begin;
  auto off = [&](const uint8_t* q) { return static_cast<size_t>(q - s); };
  auto letters_from = [&](const uint8_t* q) {  // end of the \p{L}+ run starting at q
    while (q < end) {
      const Utf8Char c = utf8_next(q, end);
      if (!(c.cls & kClsLetter)) break;
      q += c.len;
    }
    return q;
  };

  // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (*p == '\'') {
    const size_t n = contraction_len(p, end);
    if (n) return begin + n;
  }
  const Utf8Char c0 = utf8_next(p, end);
  const uint8_t* p1 = p + c0.len;

  // 2. [^\r\n\p{L}\p{N}]?\p{L}+
  if (c0.cls & kClsLetter) return off(letters_from(p1));
  if (!(c0.cls & (kClsNewline | kClsLetter | kClsNumber)) && p1 < end) {
    const Utf8Char c1 = utf8_next(p1, end);
    if (c1.cls & kClsLetter) return off(letters_from(p1 + c1.len));
  }

  // 3. \p{N}{1,3}
  if (c0.cls & kClsNumber) {
    const uint8_t* q = p1;
    for (int k = 1; k < 3 && q < end; ++k) {
      const Utf8Char c = utf8_next(q, end);
      if (!(c.cls & kClsNumber)) break;
      q += c.len;
    }
    return off(q);
  }

  // 4. ' '?[^\s\p{L}\p{N}]+[\r\n]*
  {
    const uint8_t* q = (*p == ' ') ? p1 : p;
    const uint8_t* punct_begin = q;
    while (q < end) {
      const Utf8Char c = utf8_next(q, end);
      if (c.cls & kNotPunct) break;
      q += c.len;
    }
    if (q != punct_begin) {
      while (q < end && (*q == '\r' || *q == '\n')) ++q;
      return off(q);
    }
  }

  // Only whitespace is left (c0 is \s here: letters, digits and everything else matched above).
  // 5. \s*[\r\n]+ : backtracking gives the run up to and including its last \r or \n.
  // 6. \s+(?!\S)  : the whole run at the end of the text, else the run minus its last character.
  // 7. \s+
  const uint8_t* q = p;
  const uint8_t* last_newline_end = nullptr;
  const uint8_t* last_char = p;
  while (q < end) {
    const Utf8Char c = utf8_next(q, end);
    if (!(c.cls & kClsSpace)) break;
    last_char = q;
    q += c.len;
    if (c.cls & kClsNewline) last_newline_end = q;
  }
  if (last_newline_end) return off(last_newline_end);
  if (q == end) return off(q);
  if (last_char != p) return off(last_char);
  return off(q);
}

}  // namespace si
