#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace si {
namespace {

bool printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Tables {
  std::array<uint32_t, 256> cp{};
  std::array<uint8_t, 256> order{};
  std::array<int16_t, 0x144> byte_of{};  // code point -> byte, -1 if none (all code points < 0x144)
  Tables() {
    byte_of.fill(-1);
    int k = 0;
    for (int b = 0; b < 256; ++b)
      if (printable(b)) { cp[b] = uint32_t(b); order[k++] = uint8_t(b); }
    int extra = 0;
    for (int b = 0; b < 256; ++b)
      if (!printable(b)) { cp[b] = uint32_t(0x100 + extra++); order[k++] = uint8_t(b); }
    for (int b = 0; b < 256; ++b) byte_of[cp[b]] = int16_t(b);
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else {  // the alphabet stays below U+0800
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t b) { return tables().cp[b]; }
uint8_t byte_order(int k) { return tables().order[size_t(k)]; }

std::string bytes_to_piece(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, tables().cp[uint8_t(c)]);
  return out;
}

std::optional<std::string> piece_to_bytes(std::string_view piece) {
  const auto& t = tables();
  std::string out;
  out.reserve(piece.size());
  const auto* p = reinterpret_cast<const uint8_t*>(piece.data());
  const uint8_t* end = p + piece.size();
  while (p < end) {
    const Utf8Char c = utf8_next(p, end);
    if ((c.len == 1 && *p >= 0x80) || c.cp >= t.byte_of.size() || t.byte_of[c.cp] < 0) return std::nullopt;
    out += char(t.byte_of[c.cp]);
    p += c.len;
  }
  return out;
}

}  // namespace si
