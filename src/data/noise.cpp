#include "data/noise.h"

#include <vector>

#include "data/text.h"

namespace si {

char keyboard_neighbor(const std::string& layout, char c, Rng& rng) {
  static const char* qwerty[] = {"qwertyuiop", "asdfghjkl", "zxcvbnm"};
  static const char* qwertz[] = {"qwertzuiop", "asdfghjkl", "yxcvbnm"};
  static const char* azerty[] = {"azertyuiop", "qsdfghjklm", "wxcvbn"};
  const char* const* rows = layout == "qwertz" ? qwertz : layout == "azerty" ? azerty : qwerty;
  for (int r = 0; r < 3; ++r) {
    std::string_view row(rows[r]);
    size_t col = row.find(c);
    if (col == std::string_view::npos) continue;
    char options[6];
    int n = 0;
    if (col > 0) options[n++] = row[col - 1];
    if (col + 1 < row.size()) options[n++] = row[col + 1];
    for (int dr : {-1, 1}) {
      if (r + dr < 0 || r + dr > 2) continue;
      std::string_view other(rows[r + dr]);
      if (col < other.size()) options[n++] = other[col];
      // Rows are staggered: the key up-right / down-left touches too.
      size_t diag = dr < 0 ? col + 1 : (col > 0 ? col - 1 : other.size());
      if (diag < other.size()) options[n++] = other[diag];
    }
    return n ? options[rng.below(static_cast<size_t>(n))] : c;
  }
  return c;
}

namespace {

void add_typo(const Language& L, std::string& s, Rng& rng) {
  // Only plain ASCII letters are touched, so multi-byte characters stay valid UTF-8.
  std::vector<size_t> letters;
  for (size_t i = 0; i < s.size(); ++i)
    if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')) letters.push_back(i);
  if (letters.size() < 4) return;
  size_t i = letters[rng.below(letters.size())];
  switch (rng.below(4)) {
    case 0: {
      bool upper = s[i] >= 'A' && s[i] <= 'Z';
      char c = keyboard_neighbor(L.layout, static_cast<char>(upper ? s[i] + 32 : s[i]), rng);
      s[i] = static_cast<char>(upper ? c - 32 : c);
      break;
    }
    case 1: s.erase(i, 1); break;
    case 2: s.insert(i, 1, s[i]); break;
    default:
      if (i + 1 < s.size() && ((s[i + 1] >= 'a' && s[i + 1] <= 'z'))) std::swap(s[i], s[i + 1]);
      else s.erase(i, 1);
  }
}

}  // namespace

std::string apply_noise(const Language& L, std::string s, const NoiseRates& r, Rng& rng) {
  if (rng.chance_ppm(r.typo)) {
    add_typo(L, s, rng);
    if (rng.chance_ppm(300000)) add_typo(L, s, rng);
  }
  if (rng.chance_ppm(r.diacritics)) s = strip_diacritics(s);
  if (rng.chance_ppm(r.lowercase)) s = to_lower(s);
  if (rng.chance_ppm(r.punctuation)) {
    std::string out;
    out.reserve(s.size());
    for (char c : s)
      if (c != '.' && c != ',' && c != '!' && c != '?' && c != ';' && c != ':') out += c;
    s = out;
    while (!s.empty() && s.back() == ' ') s.pop_back();
  }
  if (rng.chance_ppm(r.emoji) && !L.emoji.empty()) {
    const std::string& e = rng.pick(L.emoji);
    s = rng.chance_ppm(800000) ? s + " " + e : e + " " + s;
  }
  if (rng.chance_ppm(r.spaces)) {
    std::vector<size_t> spaces;
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] == ' ') spaces.push_back(i);
    if (!spaces.empty()) s.insert(spaces[rng.below(spaces.size())], rng.chance_ppm(500000) ? " " : "  ");
    else s += " ";
  }
  return s;
}

}  // namespace si
