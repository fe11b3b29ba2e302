// data/text.h — UTF-8 text helpers for rendering, noise and near-duplicate detection.
//
//   std::string key = si::normalize_for_dedup("Zwei Roggenbröte, bitte!! 😀");  // "zwei roggenbrote bitte"
//   uint64_t h = si::fnv1a64(key);
//   si::append_json_string(line, request);   // "..." with JSON escaping
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace si {

uint64_t fnv1a64(std::string_view s);

// Decodes one code point at s[i] (advancing i); invalid bytes decode as themselves (U+0080..U+00FF).
uint32_t utf8_next(std::string_view s, size_t& i);
void utf8_append(std::string& out, uint32_t cp);

uint32_t cp_lower(uint32_t cp);  // Latin-1 and Latin Extended-A; other code points unchanged
uint32_t cp_upper(uint32_t cp);
uint32_t cp_strip_diacritic(uint32_t cp);  // 'é' -> 'e', 'ł' -> 'l', 'ß' unchanged

std::string to_lower(std::string_view s);
std::string strip_diacritics(std::string_view s);  // also 'ß' -> "ss", 'æ' -> "ae", 'œ' -> "oe"
// Upper-cases the first letter of the text and of every sentence after ". ", "! ", "? ".
std::string capitalize_sentences(std::string_view s);
// Lowercase, no diacritics, only letters and digits, single spaces: what near-duplicates share.
std::string normalize_for_dedup(std::string_view s);

void append_json_string(std::string& out, std::string_view s);

}  // namespace si
