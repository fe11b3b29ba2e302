#include "data/render.h"

#include "data/text.h"

namespace si {

namespace {

bool starts_with_vowel(const std::string& s, size_t pos) {
  if (pos >= s.size()) return false;
  size_t i = pos;
  uint32_t cp = cp_lower(utf8_next(s, i));
  cp = cp_strip_diacritic(cp);
  return cp == 'a' || cp == 'e' || cp == 'i' || cp == 'o' || cp == 'u' || cp == 0xE6 || cp == 0x153;
}

std::string noun_phrase(const Language& L, const Noun& n, int form, const std::string& attr, Rng& rng) {
  const std::string& word = n.forms[form];
  if (attr.empty()) return word;
  std::string p = rng.pick(L.attr_patterns);
  std::string out;
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, 6, "{noun}") == 0) { out += word; i += 6; }
    else if (p.compare(i, 6, "{attr}") == 0) { out += attr; i += 6; }
    else out += p[i++];
  }
  return out;
}

std::string with_article(const std::string& article, const std::string& np) {
  return article.empty() ? np : article + " " + np;
}

int case_form(int c) { return c == kCaseNom ? kSg : c == kCaseGen ? kGen : kAcc; }

std::string number_text(const Noun& n, int64_t qty, bool words) {
  if (words && qty >= 1 && qty <= 20 && !n.num[qty].empty()) return n.num[qty];
  return std::to_string(qty);
}

// How the target is referred to, decided once per clause.
struct Reference {
  const Noun* noun = nullptr;
  std::string attr;        // "" or the variant string
  std::string attr_only;   // set: the whole reference may be an attribute phrase ("the ones in black, 42");
                           // `attr` is then the variant too, for phrases that need the noun
};

Reference choose_reference(const Language& L, const CatalogEntry& target, const std::vector<CatalogEntry>& catalog,
                           Rng& rng) {
  const ProductBase& b = L.products[target.base];
  const std::string& variant = b.variants[target.variant];
  bool siblings = false, variant_unique = true;
  for (const auto& e : catalog) {
    if (e.base == target.base && e.variant != target.variant) siblings = true;
    if ((e.base != target.base || e.variant != target.variant) && L.products[e.base].variants[e.variant] == variant)
      variant_unique = false;
  }
  Reference r;
  // A looser noun only when no other product in the catalog answers to the same word.
  std::vector<const Noun*> usable{&b.nouns[0]};
  for (size_t k = 1; k < b.nouns.size(); ++k) {
    bool clash = false;
    for (const auto& e : catalog) {
      if (e.base == target.base) continue;
      for (const auto& other : L.products[e.base].nouns)
        clash = clash || to_lower(other.forms[kSg]) == to_lower(b.nouns[k].forms[kSg]);
    }
    if (!clash) usable.push_back(&b.nouns[k]);
  }
  r.noun = usable.size() > 1 && rng.chance_ppm(350000) ? usable[1 + rng.below(usable.size() - 1)] : usable[0];
  bool attr_cat = false;
  for (const auto& c : L.attr_only_categories) attr_cat = attr_cat || c == b.category;
  if (siblings && attr_cat && variant_unique && !L.attr_only.empty() && rng.chance_ppm(300000)) {
    std::string p = rng.pick(L.attr_only);
    auto pos = p.find("{attr}");
    if (pos != std::string::npos) p.replace(pos, 6, variant);
    r.attr_only = p;
    // Phrases that cannot use the attribute-only form ("five pairs of {noun}") still name the variant.
    r.attr = variant;
  } else if (siblings || rng.chance_ppm(250000)) {
    r.attr = variant;
  }
  return r;
}

// `explicit_qty`: the number must be said (set_quantity), so no "a"/bare-noun forms for 1.
std::string quantity_phrase(const Language& L, const ProductBase& b, const Reference& ref, int64_t qty, bool explicit_qty,
                            Rng& rng, std::string& form_out) {
  const Noun& n = *ref.noun;
  if (!ref.attr_only.empty() && qty == 1 && !explicit_qty) { form_out = "unstated"; return ref.attr_only; }
  bool unit_ok = !b.unit.empty();
  // Plural-only nouns (eggs, jeans) are counted in their unit: "two packs of eggs".
  // A countable synonym of a plural-only product ("Jeanshose" for "Jeans") is counted by itself:
  // containers (bottle, pack) only go with products whose own noun is a mass or plural-only noun.
  bool use_unit = unit_ok && (n.plural_only() ? (qty > 1 || explicit_qty || rng.chance_ppm(500000))
                                              : !b.nouns[0].plural_only() && rng.chance_ppm(200000));
  if (!use_unit && n.plural_only() && qty == 1) {
    form_out = "unstated";
    return with_article(n.indef, noun_phrase(L, n, kPl, ref.attr, rng));  // "eggs", "des œufs"
  }
  if (!use_unit && qty > 1 && rng.chance_ppm(100000)) {
    form_out = "digit_x";
    std::string np = noun_phrase(L, n, kSg, ref.attr, rng);
    return rng.chance_ppm(500000) ? std::to_string(qty) + "x " + np : np + " x" + std::to_string(qty);
  }
  if (use_unit) {
    const Noun& u = L.units.at(b.unit);
    int cat = plural_category(L.plural_rule, qty);
    std::string count;
    if (qty == 1 && !explicit_qty && rng.chance_ppm(600000) && !u.indef.empty()) count = u.indef + " " + u.forms[L.count_forms[0]];
    else count = number_text(u, qty, rng.chance_ppm(600000)) + " " + u.forms[L.count_forms[cat]];
    std::string out = L.unit_pattern;
    std::string np = noun_phrase(L, n, L.unit_noun_form, ref.attr, rng);
    out.replace(out.find("{unit}"), 6, count);
    out.replace(out.find("{noun}"), 6, np);
    form_out = "unit";
    return out;
  }
  if (b.countable && qty > 1)
    for (const auto& s : L.specials)
      if (s.n == qty && rng.chance_ppm(500000)) {
        form_out = "special";
        return s.before + noun_phrase(L, n, s.form, ref.attr, rng) + s.after;
      }
  int cat = plural_category(L.plural_rule, qty);
  std::string np = noun_phrase(L, n, L.count_forms[cat], ref.attr, rng);
  if (qty == 1) {
    uint64_t r = explicit_qty ? 2 + rng.below(2) : rng.below(4);
    if (r <= 1) { form_out = "unstated"; return with_article(n.indef, np); }
    if (r == 2) { form_out = "word"; return n.num[1] + " " + np; }
    form_out = "digit";
    return "1 " + np;
  }
  bool words = qty <= 20 && rng.chance_ppm(550000);
  form_out = words ? "word" : "digit";
  return number_text(n, qty, words) + " " + np;
}

std::string random_digits(Rng& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>('0' + (i == 0 ? 1 + rng.below(9) : rng.below(10)));
  return s;
}

std::string two(int64_t v) {
  std::string s(2, '0');
  s[0] = static_cast<char>('0' + (v / 10) % 10);
  s[1] = static_cast<char>('0' + v % 10);
  return s;
}

std::string detail(const Language& L, Slot slot, Rng& rng) {
  switch (slot) {
    case Slot::Order: {
      uint64_t r = rng.below(4);
      std::string d = random_digits(rng, 6 + static_cast<int>(rng.below(3)));
      std::string out = r == 0 || r == 3 ? "#" : r == 2 ? "SO-" : "";
      if (r == 3) {
        out += random_digits(rng, 4);
        out += '-';
        out += random_digits(rng, 4);
      } else {
        out += d;
      }
      return out;
    }
    case Slot::Email: {
      static const std::vector<std::string> domains{"gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.net",
                                                    "web.de",    "hotmail.com", "proton.me", "wp.pl",     "orange.fr"};
      std::string name = to_lower(strip_diacritics(rng.pick(L.first_names)));
      std::string sep = rng.chance_ppm(500000) ? "." : "";
      return name + sep + (rng.chance_ppm(500000) ? to_lower(strip_diacritics(rng.pick(L.first_names))) : random_digits(rng, 2)) +
             "@" + rng.pick(domains);
    }
    case Slot::Date: {
      int64_t d = rng.range(1, 28), m = rng.range(1, 12), y = rng.range(2024, 2025);
      std::string out, f = L.date_format;
      for (size_t i = 0; i < f.size();) {
        if (f.compare(i, 3, "{d}") == 0) { out += rng.chance_ppm(500000) ? two(d) : std::to_string(d); i += 3; }
        else if (f.compare(i, 3, "{m}") == 0) { out += two(m); i += 3; }
        else if (f.compare(i, 3, "{y}") == 0) { out += std::to_string(y); i += 3; }
        else out += f[i++];
      }
      return out;
    }
    case Slot::Price: {
      int64_t whole = rng.range(2, 299), cents = rng.chance_ppm(300000) ? 0 : rng.range(0, 99);
      std::string amount = std::to_string(whole) + (cents == 0 && rng.chance_ppm(500000) ? "" : L.decimal_sep + two(cents));
      std::string out = L.price_format;
      auto pos = out.find("{}");
      if (pos != std::string::npos) out.replace(pos, 2, amount);
      return out;
    }
    case Slot::Name: return rng.pick(L.first_names);
    case Slot::Phone: {
      std::string out = "+";
      out += random_digits(rng, 2);
      out += ' ';
      out += random_digits(rng, 3);
      out += ' ';
      out += random_digits(rng, 7);
      return out;
    }
    default: return "";
  }
}

}  // namespace

std::string tidy(const Language& L, std::string s) {
  // Before-vowel rules ("a" -> "an", "le" -> "l'"): whole words only.
  for (const auto& [word, repl] : L.before_vowel) {
    size_t pos = 0;
    while ((pos = s.find(word + " ", pos)) != std::string::npos) {
      bool word_start = pos == 0 || s[pos - 1] == ' ' || s[pos - 1] == '(';
      size_t next = pos + word.size() + 1;
      if (word_start && starts_with_vowel(s, next)) {
        bool join = !repl.empty() && repl.back() == '\'';
        s.replace(pos, word.size() + 1, join ? repl : repl + " ");
        pos += repl.size();
      } else {
        pos = next;
      }
    }
  }
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    if ((c == ',' || c == '.' || c == '?' || c == '!') && !out.empty() && out.back() == ' ' && L.code != "fr")
      out.pop_back();
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string render_cart_clause(const Language& L, const Template& t, const CatalogEntry& target, int64_t qty,
                               bool explicit_qty, const std::vector<CatalogEntry>& catalog, Rng& rng,
                               std::string& qty_form) {
  const ProductBase& b = L.products[target.base];
  Reference ref = choose_reference(L, target, catalog, rng);
  if (!t.has_q) qty_form = t.has_n ? (qty <= 20 ? "word" : "digit") : "unstated";
  std::string out;
  for (const auto& p : t.pieces) {
    switch (p.slot) {
      case Slot::Text: out += p.text; break;
      case Slot::Q: out += quantity_phrase(L, b, ref, qty, explicit_qty, rng, qty_form); break;
      case Slot::D: {
        if (!ref.attr_only.empty()) { out += ref.attr_only; break; }
        const Noun& n = *ref.noun;
        int form = n.plural_only() ? (p.arg == kCaseGen ? kGenPl : kPl) : case_form(p.arg);
        out += with_article(n.def[p.arg], noun_phrase(L, n, form, ref.attr, rng));
        break;
      }
      case Slot::N: {
        bool words = qty <= 20 && rng.chance_ppm(450000);
        if (t.has_n) qty_form = words ? "word" : "digit";
        out += number_text(*ref.noun, qty, words);
        break;
      }
      case Slot::P: out += noun_phrase(L, *ref.noun, case_form(p.arg), ref.attr, rng); break;
      case Slot::PL: out += noun_phrase(L, *ref.noun, kPl, ref.attr, rng); break;
      case Slot::Pool: out += rng.pick(L.pools[p.arg]); break;
      default: out += detail(L, p.slot, rng); break;
    }
  }
  return out;
}

std::string render_free(const Language& L, const Template& t, Rng& rng) {
  std::string out;
  // Support messages talk about one item ("is the jacket waterproof?"): plural-only nouns would
  // break the verb agreement of singular templates, so they are skipped here.
  const Noun* pick = nullptr;
  for (int tries = 0; tries < 16 && (!pick || pick->plural_only()); ++tries) {
    const ProductBase& b = L.products[rng.below(L.products.size())];
    pick = &b.nouns[rng.below(b.nouns.size())];
  }
  const Noun& n = *pick;
  for (const auto& p : t.pieces) {
    switch (p.slot) {
      case Slot::Text: out += p.text; break;
      case Slot::Pool: out += rng.pick(L.pools[p.arg]); break;
      case Slot::P: case Slot::D: out += (p.slot == Slot::D ? with_article(n.def[p.arg], "") : "") + n.forms[n.plural_only() ? kPl : case_form(p.arg)]; break;
      case Slot::PL: out += n.forms[kPl]; break;
      case Slot::Q: out += with_article(n.indef, n.forms[kAcc]); break;
      case Slot::N: out += std::to_string(rng.range(2, 5)); break;
      default: out += detail(L, p.slot, rng); break;
    }
  }
  return out;
}

}  // namespace si
