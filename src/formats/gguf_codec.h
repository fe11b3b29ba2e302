// formats/gguf_codec.h — internal to formats/: the byte encoding of GGUF strings and values,
// shared by the writer and GgufValue::operator==, and the UTF-8 check of the reader and writer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "formats/gguf.h"

namespace si {

inline void gguf_put_bytes(std::string& out, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
}
template <typename T> void gguf_put(std::string& out, T v) { gguf_put_bytes(out, &v, sizeof v); }
inline void gguf_put_string(std::string& out, std::string_view s) {
  gguf_put<uint64_t>(out, s.size());
  out.append(s);
}

// The value's bytes as they follow its type id in a KV pair (arrays: element type, count, items).
void gguf_encode_value(std::string& out, const GgufValue& v);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool utf8_valid(std::string_view s);

}  // namespace si
