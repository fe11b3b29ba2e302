// data/lang.h — one language's resources (data/lang/<code>/*.json), loaded and checked.
//
//   si::Language de = si::load_language(si::data_dir() + "/lang", "de");
//   de.products[3].names[0];           // "Roggenbrot 500 g"
//   si::ResourceCounts c = si::count_resources(de);
//
// Files per language (format: docs/data.md):
//   products.json  categories and product bases: noun forms + gender, name template, variants
//   grammar.json   number words, articles, quantity rules, units, small talk, pools, cart templates
//   support.json   support-inbox templates per label, and what their slots need
// Templates are compiled once here into pieces (literal text and slots), so rendering is a loop.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace si {

// Noun forms. Languages without cases use sg/pl only; the others fall back to them.
enum Form : int { kSg = 0, kPl, kAcc, kGen, kGenPl, kFormCount };
// Grammatical case of a slot: object (accusative), subject (nominative), genitive.
enum Case : int { kCaseAcc = 0, kCaseNom, kCaseGen, kCaseCount };

struct Noun {
  std::string gender;                                // "m", "f", "n", "c", "pl"/"pl_f" (plural-only), ...
  std::array<std::string, kFormCount> forms;
  std::string indef;                                 // indefinite article in the object case ("" if none)
  std::array<std::string, kCaseCount> def;           // definite article per case ("" if none)
  std::array<std::string, 21> num;                   // number words 1..20 agreeing with the gender
  bool plural_only() const { return gender.rfind("pl", 0) == 0; }
};

struct ProductBase {
  std::string id;        // shared by every language: code-switching and held-out sets align on it
  std::string category;
  std::vector<std::string> variants;  // attribute strings ("500 g", "black, size 42")
  std::vector<std::string> names;     // catalog names, one per variant
  std::vector<Noun> nouns;            // [0] the product's own noun, then looser ones (synonyms, partial)
  std::string unit;                   // "" or a key of Language::units (pack, pair, bottle, ...)
  bool countable = false;             // sold as single items: "a dozen", "a couple of" apply
};

enum class Slot : uint8_t {
  Text, Q, D, N, P, PL, Pool,                 // cart: quantity phrase, definite ref, number, bare noun
  Order, Email, Date, Price, Name, Phone      // support details
};
struct Piece {
  Slot slot = Slot::Text;
  int arg = 0;           // D/P: Case; Pool: pool index
  std::string text;      // Text
};
struct Template {
  std::string id;        // "<lang>.<intent>.<index>", stable across runs: held-out sets use it
  std::vector<Piece> pieces;
  bool has_q = false, has_d = false, has_n = false;
};

struct SpecialQty {
  int n = 0;
  std::string before, after;  // text around the noun ("a dozen ", "")
  int form = kPl;
};

struct Language {
  std::string code;
  std::string plural_rule;             // "one_other", "pl", "hr": how a count picks a noun form
  std::array<int, 3> count_forms{};    // noun Form for counts in category one / few / many
  std::vector<std::pair<std::string, std::string>> before_vowel;  // "a" -> "an", "le" -> "l'"
  std::string decimal_sep = ".";
  std::string price_format = "{}";     // "{} €", "€{}"
  std::string date_format = "{d}/{m}/{y}";
  std::string layout = "qwerty";       // keyboard for typo noise: qwerty, qwertz, azerty
  std::vector<std::string> categories;
  std::vector<ProductBase> products;
  std::map<std::string, Noun> units;   // pack, pair, bottle...
  std::string unit_pattern;            // "{unit} of {noun}"
  int unit_noun_form = kSg;
  std::vector<SpecialQty> specials;
  std::vector<std::string> attr_patterns;  // "{noun} {attr}"
  std::vector<std::string> attr_only;      // "the ones in {attr}"
  std::vector<std::string> attr_only_categories;
  std::vector<std::string> openers, closers, joiners, emoji, first_names, fillers;
  std::vector<std::string> pool_names;
  std::vector<std::vector<std::string>> pools;
  std::map<std::string, std::vector<Template>> cart;     // add, remove, set_quantity, none
  std::map<std::string, std::vector<Template>> support;  // one list per label
  std::string dir;                                       // where it was loaded from
};

Language load_language(const std::string& lang_root, const std::string& code);

// 0 = one, 1 = few, 2 = many (CLDR-style categories for n >= 1).
int plural_category(const std::string& rule, int64_t n);

struct ResourceCounts {
  size_t products = 0, categories = 0, min_products_per_category = 0;
  size_t near_duplicate_bases = 0;       // bases with >= 2 variants
  std::map<std::string, size_t> cart_templates, support_templates;
  size_t number_words = 0, specials = 0, units = 0;
  size_t small_talk = 0;                  // openers + closers
  size_t loose_nouns = 0;                 // synonyms / partial names beyond each product's own noun
};
ResourceCounts count_resources(const Language& lang);

}  // namespace si
