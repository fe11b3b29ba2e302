#include "tokenizer/unicode.h"

#include <array>

#include <utf8proc.h>

namespace si {
namespace {

uint8_t class_from_utf8proc(uint32_t cp) {
  uint8_t cls = 0;
  switch (cp) {
    case 0x09: case 0x0B: case 0x0C: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      cls |= kClsSpace;
      break;
    case 0x0A: case 0x0D:
      cls |= kClsSpace | kClsNewline;
      break;
    default:
      if (cp >= 0x2000 && cp <= 0x200A) cls |= kClsSpace;
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      cls |= kClsLetter;
      break;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      cls |= kClsNumber;
      break;
    default:
      break;
  }
  return cls;
}

// The Basic Multilingual Plane in one table (64 KiB, built once) so that the common case is one
// load; the rest asks utf8proc, whose lookup is two loads more.
struct BmpTable {
  std::array<uint8_t, 0x10000> cls;
  BmpTable() {
    for (uint32_t cp = 0; cp < 0x10000; ++cp) cls[cp] = class_from_utf8proc(cp);
  }
};
const BmpTable& bmp() {
  static const BmpTable table;
  return table;
}

}  // namespace

uint8_t unicode_class(uint32_t cp) {
  if (cp < 0x10000) return bmp().cls[cp];
  return cp <= 0x10FFFF ? class_from_utf8proc(cp) : 0;
}

// \t \n \v \f \r and space are \s; digits \p{N}; ASCII letters \p{L}.
const uint8_t kAsciiClass[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, kClsSpace, kClsSpace | kClsNewline, kClsSpace, kClsSpace,
    kClsSpace | kClsNewline, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    kClsSpace, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    kClsNumber, kClsNumber, kClsNumber, kClsNumber, kClsNumber, kClsNumber, kClsNumber, kClsNumber,
    kClsNumber, kClsNumber, 0, 0, 0, 0, 0, 0,
    0, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter,
    kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter,
    kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter,
    kClsLetter, kClsLetter, kClsLetter, 0, 0, 0, 0, 0,
    0, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter,
    kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter,
    kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter, kClsLetter,
    kClsLetter, kClsLetter, kClsLetter, 0, 0, 0, 0, 0,
};

Utf8Char utf8_next_multibyte(const uint8_t* p, const uint8_t* end) {
  const uint8_t b0 = p[0];
  const size_t avail = static_cast<size_t>(end - p);
  const Utf8Char invalid{b0, 1, 0};
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (avail < 2 || (p[1] & 0xC0) != 0x80) return invalid;
    const uint32_t cp = (uint32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
    return {cp, 2, bmp().cls[cp]};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return invalid;
    const uint32_t cp = (uint32_t(b0 & 0x0F) << 12) | (uint32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return invalid;
    return {cp, 3, bmp().cls[cp]};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return invalid;
    const uint32_t cp = (uint32_t(b0 & 0x07) << 18) | (uint32_t(p[1] & 0x3F) << 12) |
                        (uint32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    if (cp < 0x10000 || cp > 0x10FFFF) return invalid;
    return {cp, 4, class_from_utf8proc(cp)};
  }
  return invalid;
}

bool utf8_valid(const char* p, size_t n) {
  const auto* s = reinterpret_cast<const uint8_t*>(p);
  const uint8_t* end = s + n;
  while (s < end) {
    if (*s < 0x80) { ++s; continue; }
    const Utf8Char c = utf8_next(s, end);
    if (c.len == 1) return false;
    s += c.len;
  }
  return true;
}

}  // namespace si
