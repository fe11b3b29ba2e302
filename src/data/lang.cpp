#include "data/lang.h"

#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap.h"

namespace si {

using nlohmann::json;

namespace {

struct Ctx {
  std::string path;
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(what).at(path).hint("fix the language file (format: docs/data.md)");
  }
};

json load_json(const std::string& path) {
  std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(std::string("not valid JSON: ") + e.what()).at(path, e.byte);
  }
}

const json& need(const Ctx& c, const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) c.fail(std::string("missing key \"") + key + "\"");
  return j[key];
}

std::string str(const Ctx& c, const json& j, const std::string& where) {
  if (!j.is_string()) c.fail(where + ": expected a string");
  return j.get<std::string>();
}

std::vector<std::string> strings(const Ctx& c, const json& j, const std::string& where) {
  if (!j.is_array()) c.fail(where + ": expected an array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(str(c, j[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

int form_of(const Ctx& c, const std::string& s) {
  static const char* names[] = {"sg", "pl", "acc", "gen", "gen_pl"};
  for (int i = 0; i < kFormCount; ++i)
    if (s == names[i]) return i;
  c.fail("unknown noun form \"" + s + "\" (expected sg, pl, acc, gen or gen_pl)");
}

// A table keyed by gender ({"m": "einen", "f": "eine", "*": "a"}) or one string for all genders.
std::string gendered(const json& table, const std::string& g) {
  if (table.is_string()) return table.get<std::string>();
  if (!table.is_object()) return "";
  if (auto it = table.find(g); it != table.end() && it->is_string()) return it->get<std::string>();
  // "pl_f" (feminine plural-only) falls back to "pl", "ms" to "m".
  if (g.rfind("pl", 0) == 0)
    if (auto it = table.find("pl"); it != table.end() && it->is_string()) return it->get<std::string>();
  if (!g.empty())
    if (auto it = table.find(g.substr(0, 1)); it != table.end() && it->is_string()) return it->get<std::string>();
  if (auto it = table.find("*"); it != table.end() && it->is_string()) return it->get<std::string>();
  return "";
}

struct Grammar {
  json numbers, indef, def;
};

Noun parse_noun(const Ctx& c, const json& j, const Grammar& gr, const std::string& where) {
  Noun n;
  n.gender = str(c, need(c, j, "g"), where + ".g");
  n.forms[kSg] = str(c, need(c, j, "sg"), where + ".sg");
  n.forms[kPl] = j.contains("pl") ? str(c, j["pl"], where + ".pl") : n.forms[kSg];
  n.forms[kAcc] = j.contains("acc") ? str(c, j["acc"], where + ".acc") : n.forms[kSg];
  n.forms[kGen] = j.contains("gen") ? str(c, j["gen"], where + ".gen") : n.forms[kSg];
  n.forms[kGenPl] = j.contains("gen_pl") ? str(c, j["gen_pl"], where + ".gen_pl") : n.forms[kPl];
  if (n.plural_only()) n.forms[kSg] = n.forms[kAcc] = n.forms[kPl];
  // A noun may override the article ("an" in English, "" for mass nouns).
  n.indef = j.contains("indef") ? str(c, j["indef"], where + ".indef") : gendered(gr.indef, n.gender);
  static const char* cases[] = {"acc", "nom", "gen"};
  for (int k = 0; k < kCaseCount; ++k)
    n.def[k] = gr.def.contains(cases[k]) ? gendered(gr.def[cases[k]], n.gender) : "";
  for (size_t i = 0; i < 20 && i < gr.numbers.size(); ++i) n.num[i + 1] = gendered(gr.numbers[i], n.gender);
  return n;
}

Template compile(const Ctx& c, const std::string& text, const std::string& id,
                 const std::vector<std::string>& pool_names) {
  Template t;
  t.id = id;
  size_t i = 0;
  std::string lit;
  while (i < text.size()) {
    if (text[i] != '{') { lit += text[i++]; continue; }
    size_t close = text.find('}', i);
    if (close == std::string::npos) c.fail(id + ": unclosed '{' in \"" + text + "\"");
    std::string name = text.substr(i + 1, close - i - 1);
    i = close + 1;
    if (!lit.empty()) { t.pieces.push_back({Slot::Text, 0, lit}); lit.clear(); }
    Piece p;
    std::string base = name, cs;
    if (auto dot = name.find('.'); dot != std::string::npos) { base = name.substr(0, dot); cs = name.substr(dot + 1); }
    int case_arg = cs.empty() ? kCaseAcc : cs == "acc" ? kCaseAcc : cs == "nom" ? kCaseNom : cs == "gen" ? kCaseGen : -1;
    if (case_arg < 0) c.fail(id + ": unknown case \"" + cs + "\" in {" + name + "} (expected acc, nom or gen)");
    if (base == "Q") { p.slot = Slot::Q; t.has_q = true; }
    else if (base == "D") { p.slot = Slot::D; p.arg = case_arg; t.has_d = true; }
    else if (base == "N") { p.slot = Slot::N; t.has_n = true; }
    else if (base == "P") { p.slot = Slot::P; p.arg = case_arg; }
    else if (base == "PL") p.slot = Slot::PL;
    else if (base == "order") p.slot = Slot::Order;
    else if (base == "email") p.slot = Slot::Email;
    else if (base == "date") p.slot = Slot::Date;
    else if (base == "price") p.slot = Slot::Price;
    else if (base == "name") p.slot = Slot::Name;
    else if (base == "phone") p.slot = Slot::Phone;
    else if (!base.empty() && base[0] == '@') {
      p.slot = Slot::Pool;
      p.arg = -1;
      for (size_t k = 0; k < pool_names.size(); ++k)
        if (pool_names[k] == base.substr(1)) p.arg = static_cast<int>(k);
      if (p.arg < 0) c.fail(id + ": unknown pool {" + name + "}");
    } else {
      c.fail(id + ": unknown slot {" + name + "} in \"" + text + "\"");
    }
    t.pieces.push_back(p);
  }
  if (!lit.empty()) t.pieces.push_back({Slot::Text, 0, lit});
  return t;
}

}  // namespace

int plural_category(const std::string& rule, int64_t n) {
  if (n == 1) return 0;
  if (rule == "pl" || rule == "hr") {
    int64_t m10 = n % 10, m100 = n % 100;
    if (rule == "hr" && m10 == 1 && m100 != 11) return 0;
    if (m10 >= 2 && m10 <= 4 && !(m100 >= 12 && m100 <= 14)) return 1;
    return 2;
  }
  return 2;  // one_other: "few" never happens
}

Language load_language(const std::string& lang_root, const std::string& code) {
  Language L;
  L.code = code;
  L.dir = lang_root + "/" + code;

  // ---- grammar.json ----
  Ctx c{L.dir + "/grammar.json"};
  json g = load_json(c.path);
  Grammar gr;
  gr.numbers = need(c, g, "numbers");
  if (!gr.numbers.is_array() || gr.numbers.size() != 20) c.fail("\"numbers\" must list the number words 1..20");
  gr.indef = g.value("indef", json(""));
  gr.def = g.value("def", json::object());
  L.plural_rule = str(c, need(c, g, "plural_rule"), "plural_rule");
  if (L.plural_rule != "one_other" && L.plural_rule != "pl" && L.plural_rule != "hr")
    c.fail("plural_rule must be one_other, pl or hr");
  const json& cf = need(c, g, "count_forms");
  L.count_forms = {form_of(c, str(c, need(c, cf, "one"), "count_forms.one")),
                   form_of(c, cf.contains("few") ? str(c, cf["few"], "count_forms.few") : str(c, need(c, cf, "many"), "")),
                   form_of(c, str(c, need(c, cf, "many"), "count_forms.many"))};
  if (g.contains("before_vowel"))
    for (const auto& p : g["before_vowel"]) {
      if (!p.is_array() || p.size() != 2) c.fail("before_vowel: expected pairs [word, replacement]");
      L.before_vowel.emplace_back(str(c, p[0], "before_vowel"), str(c, p[1], "before_vowel"));
    }
  L.decimal_sep = g.value("decimal_sep", ".");
  L.price_format = g.value("price_format", "{}");
  L.date_format = g.value("date_format", "{d}/{m}/{y}");
  L.layout = g.value("layout", "qwerty");
  if (L.layout != "qwerty" && L.layout != "qwertz" && L.layout != "azerty") c.fail("layout must be qwerty, qwertz or azerty");
  for (auto it = need(c, g, "units").begin(); it != g["units"].end(); ++it)
    L.units[it.key()] = parse_noun(c, it.value(), gr, "units." + it.key());
  L.unit_pattern = str(c, need(c, g, "unit_pattern"), "unit_pattern");
  L.unit_noun_form = form_of(c, str(c, need(c, g, "unit_noun_form"), "unit_noun_form"));
  for (const auto& s : need(c, g, "specials")) {
    SpecialQty q;
    q.n = need(c, s, "n").get<int>();
    std::string text = str(c, need(c, s, "text"), "specials.text");
    auto pos = text.find("{noun}");
    if (pos == std::string::npos) c.fail("specials: text needs {noun}: \"" + text + "\"");
    q.before = text.substr(0, pos);
    q.after = text.substr(pos + 6);
    q.form = form_of(c, s.value("form", "pl"));
    L.specials.push_back(q);
  }
  L.attr_patterns = strings(c, need(c, g, "attr_patterns"), "attr_patterns");
  L.attr_only = strings(c, need(c, g, "attr_only"), "attr_only");
  L.attr_only_categories = strings(c, need(c, g, "attr_only_categories"), "attr_only_categories");
  L.openers = strings(c, need(c, g, "openers"), "openers");
  L.closers = strings(c, need(c, g, "closers"), "closers");
  L.joiners = strings(c, need(c, g, "joiners"), "joiners");
  L.emoji = strings(c, need(c, g, "emoji"), "emoji");
  for (auto it = need(c, g, "pools").begin(); it != g["pools"].end(); ++it) {
    L.pool_names.push_back(it.key());
    L.pools.push_back(strings(c, it.value(), "pools." + it.key()));
  }
  for (auto it = need(c, g, "cart").begin(); it != g["cart"].end(); ++it) {
    auto texts = strings(c, it.value(), "cart." + it.key());
    auto& list = L.cart[it.key()];
    for (size_t i = 0; i < texts.size(); ++i)
      list.push_back(compile(c, texts[i], code + "." + it.key() + "." + std::to_string(i), L.pool_names));
  }

  // ---- products.json ----
  c.path = L.dir + "/products.json";
  json p = load_json(c.path);
  L.categories = strings(c, need(c, p, "categories"), "categories");
  std::set<std::string> ids, names;
  const json& plist = need(c, p, "products");
  for (size_t i = 0; i < plist.size(); ++i) {
    const json& e = plist[i];
    std::string where = "products[" + std::to_string(i) + "]";
    ProductBase b;
    b.id = str(c, need(c, e, "id"), where + ".id");
    where += " (" + b.id + ")";
    if (!ids.insert(b.id).second) c.fail(where + ": duplicate id");
    b.category = str(c, need(c, e, "cat"), where + ".cat");
    bool known = false;
    for (const auto& k : L.categories) known = known || k == b.category;
    if (!known) c.fail(where + ": category \"" + b.category + "\" is not in \"categories\"");
    std::string name_tpl = str(c, need(c, e, "name"), where + ".name");
    if (name_tpl.find("{v}") == std::string::npos) c.fail(where + ": name needs {v}");
    b.variants = strings(c, need(c, e, "v"), where + ".v");
    if (b.variants.empty()) c.fail(where + ": needs at least one variant");
    for (const auto& v : b.variants) {
      std::string n = name_tpl;
      n.replace(n.find("{v}"), 3, v);
      if (n.find('\n') != std::string::npos) c.fail(where + ": product names cannot contain newlines");
      if (!names.insert(n).second) c.fail(where + ": duplicate product name \"" + n + "\"");
      b.names.push_back(n);
    }
    b.nouns.push_back(parse_noun(c, e, gr, where));
    if (e.contains("alt"))
      for (size_t k = 0; k < e["alt"].size(); ++k)
        b.nouns.push_back(parse_noun(c, e["alt"][k], gr, where + ".alt[" + std::to_string(k) + "]"));
    b.unit = e.value("unit", "");
    if (!b.unit.empty() && !L.units.count(b.unit)) c.fail(where + ": unit \"" + b.unit + "\" is not in grammar.json units");
    if (b.nouns[0].plural_only() && b.unit.empty()) c.fail(where + ": a plural-only noun needs a \"unit\" (pack, pair...)");
    b.countable = e.value("count", false);
    L.products.push_back(std::move(b));
  }

  // ---- support.json ----
  c.path = L.dir + "/support.json";
  json s = load_json(c.path);
  L.first_names = strings(c, need(c, s, "first_names"), "first_names");
  L.fillers = strings(c, need(c, s, "fillers"), "fillers");
  for (auto it = need(c, s, "labels").begin(); it != s["labels"].end(); ++it) {
    auto texts = strings(c, it.value(), "labels." + it.key());
    auto& list = L.support[it.key()];
    for (size_t i = 0; i < texts.size(); ++i)
      list.push_back(compile(c, texts[i], code + ".support." + it.key() + "." + std::to_string(i), L.pool_names));
  }
  return L;
}

ResourceCounts count_resources(const Language& L) {
  ResourceCounts r;
  r.categories = L.categories.size();
  std::map<std::string, size_t> per_cat;
  for (const auto& b : L.products) {
    r.products += b.names.size();
    per_cat[b.category] += b.names.size();
    if (b.names.size() >= 2) ++r.near_duplicate_bases;
    r.loose_nouns += b.nouns.size() - 1;
  }
  r.min_products_per_category = SIZE_MAX;
  for (const auto& k : L.categories) r.min_products_per_category = std::min(r.min_products_per_category, per_cat[k]);
  if (L.categories.empty()) r.min_products_per_category = 0;
  for (const auto& [k, v] : L.cart) r.cart_templates[k] = v.size();
  for (const auto& [k, v] : L.support) r.support_templates[k] = v.size();
  r.number_words = 20;
  r.specials = L.specials.size();
  r.units = L.units.size();
  r.small_talk = L.openers.size() + L.closers.size();
  return r;
}

}  // namespace si
