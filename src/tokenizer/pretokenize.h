// tokenizer/pretokenize.h — Llama 3's pre-tokenizer, hand-written (no regex engine).
//
//   for (size_t i = 0; i < text.size();) {
//     const size_t j = si::llama3_piece_end(text, i);   // text.substr(i, j - i) is one piece
//     ...; i = j;
//   }
//
// It is the Split pre-tokenizer of Llama 3's tokenizer.json (behavior Isolated), i.e. the
// leftmost-first matches of
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// with the classes of tokenizer/unicode.h. Every position matches one alternative, so the
// pieces tile the text. Each alternative is coded as the backtracking engine resolves it.
#pragma once

#include <cstddef>
#include <string_view>

namespace si {

// The exact pattern string Llama 3's tokenizer.json carries (what we accept and write).
inline constexpr std::string_view kLlama3SplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// End (byte offset) of the piece that starts at byte `begin` < text.size().
size_t llama3_piece_end(std::string_view text, size_t begin);

}  // namespace si
