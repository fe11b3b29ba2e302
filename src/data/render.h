// data/render.h — renders one request from a language's compiled templates.
//
//   si::CatalogEntry target{base, variant};
//   std::string qty_form;
//   std::string clause = si::render_cart_clause(lang, tpl, target, 2, false, catalog, rng, qty_form);
//   // "leg mir bitte zwei Roggenbrote 750 g in den Warenkorb"
//
// Product references are chosen so that the request still names exactly one catalog item: a loose
// noun is used only when no other product in the catalog shares it, and the variant's attributes
// are added whenever a sibling variant (same product, other size/colour) is in the catalog.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/lang.h"
#include "data/rng.h"

namespace si {

struct CatalogEntry {
  uint32_t base = 0;     // index into Language::products (the same in every language)
  uint32_t variant = 0;  // index into ProductBase::variants
};

// One cart clause for `target` with quantity `qty` (templates without {Q}/{N} imply qty 1).
// `explicit_qty` forces the number to be said even for 1 (set_quantity). `qty_form` receives how
// the quantity was said: unstated, word, digit, digit_x, special, unit.
std::string render_cart_clause(const Language& L, const Template& t, const CatalogEntry& target, int64_t qty,
                               bool explicit_qty, const std::vector<CatalogEntry>& catalog, Rng& rng,
                               std::string& qty_form);

// A template without product slots tied to a catalog (support messages, cart "none" messages).
// {P}/{PL} name a random product of the language; details ({order}, {email}, ...) are invented.
std::string render_free(const Language& L, const Template& t, Rng& rng);

// Spacing and elision fixes after slot filling: double spaces, " ," and before-vowel rules.
std::string tidy(const Language& L, std::string s);

}  // namespace si
