#include "data/text.h"

namespace si {

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint32_t utf8_next(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) { ++i; return c; }
  if (len == 1) { ++i; return c; }
  uint32_t cp = c & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) { ++i; return c; }
    cp = (cp << 6) | (d & 0x3F);
  }
  i += len;
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {
// Latin Extended-A pairs upper/lower as even/odd, except in 0x139..0x148 and 0x179..0x17E
// where the upper letter is odd; 0x138 (kra) and 0x149 have no pair.
bool ext_a_upper(uint32_t cp) {
  if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return cp % 2 == 1;
  return cp % 2 == 0;
}
bool ext_a_paired(uint32_t cp) { return cp >= 0x100 && cp <= 0x17E && cp != 0x138 && cp != 0x149 && cp != 0x178; }
}  // namespace

uint32_t cp_lower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
  if (ext_a_paired(cp) && ext_a_upper(cp)) return cp + 1;
  return cp;
}

uint32_t cp_upper(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return cp - 32;
  if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) return cp - 32;
  if (ext_a_paired(cp) && !ext_a_upper(cp)) return cp - 1;
  return cp;
}

uint32_t cp_strip_diacritic(uint32_t cp) {
  if (cp < 0xC0) return cp;
  if (cp <= 0xFF) {
    // À..ÿ, indexed from 0xC0; '\0' keeps the code point (×, ÷, Æ, Ð, Þ, ß...).
    static const char* table =
        "AAAAAA\0CEEEEIIII\0NOOOOO\0OUUUUY\0\0aaaaaa\0ceeeeiiii\0nooooo\0ouuuuy\0y";
    char c = table[cp - 0xC0];
    return c ? static_cast<uint32_t>(c) : cp;
  }
  if (cp <= 0x17F) {
    static const char* ext =  // 0x100..0x17F
        "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi\0\0JjKk\0LlLlLlLlLlNnNnNn\0\0\0OoOoOo\0\0RrRrRrSsSsSsSs"
        "TtTtTtUuUuUuUuUuUuWwYyYZzZzZz\0";
    char c = ext[cp - 0x100];
    return c ? static_cast<uint32_t>(c) : cp;
  }
  return cp;
}

std::string to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) utf8_append(out, cp_lower(utf8_next(s, i)));
  return out;
}

std::string strip_diacritics(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = utf8_next(s, i);
    if (cp == 0xDF) { out += "ss"; continue; }
    if (cp == 0xE6) { out += "ae"; continue; }
    if (cp == 0xC6) { out += "Ae"; continue; }
    if (cp == 0x153) { out += "oe"; continue; }
    if (cp == 0x152) { out += "Oe"; continue; }
    if (cp == 0xF8) { out += 'o'; continue; }
    if (cp == 0xD8) { out += 'O'; continue; }
    if (cp == 0x111) { out += 'd'; continue; }
    if (cp == 0x110) { out += 'D'; continue; }
    utf8_append(out, cp_strip_diacritic(cp));
  }
  return out;
}

std::string capitalize_sentences(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool start = true;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = utf8_next(s, i);
    bool letter = cp_lower(cp) != cp_upper(cp);
    if (start && letter) {
      cp = cp_upper(cp);
      start = false;
    } else if (letter || (cp >= '0' && cp <= '9')) {
      start = false;
    }
    utf8_append(out, cp);
    if ((cp == '.' || cp == '!' || cp == '?') && i < s.size() && s[i] == ' ') start = true;
  }
  return out;
}

std::string normalize_for_dedup(std::string_view s) {
  std::string lowered = strip_diacritics(to_lower(s));
  std::string out;
  out.reserve(lowered.size());
  bool space = false;
  for (size_t i = 0; i < lowered.size();) {
    uint32_t cp = utf8_next(lowered, i);
    bool keep = (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 0xC0 && cp <= 0x24F);
    if (keep) {
      if (space && !out.empty()) out += ' ';
      space = false;
      utf8_append(out, cp);
    } else {
      space = true;
    }
  }
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace si
