// tokenizer/byte_level.h — GPT-2's bytes_to_unicode, the ByteLevel alphabet of Llama 3.
//
//   std::string piece = si::bytes_to_piece(" hello");   // "Ġhello"
//   std::optional<std::string> raw = si::piece_to_bytes("Ġhello");
//
// Printable Latin-1 bytes stand for themselves; the other 68 bytes map to U+0100.. in order.
// Vocabulary files store tokens in this alphabet; we keep raw bytes internally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace si {

// The code point that stands for byte b.
uint32_t byte_to_codepoint(uint8_t b);

// Order of the 256 byte symbols in Llama 3 (and GPT-2) vocabularies: id k is byte byte_order(k).
uint8_t byte_order(int k);

std::string bytes_to_piece(std::string_view bytes);

// nullopt when the piece holds a character outside the alphabet (or is not valid UTF-8).
std::optional<std::string> piece_to_bytes(std::string_view piece);

}  // namespace si
