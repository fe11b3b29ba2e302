// data/noise.h — the ways real customers' messages differ from clean text.
//
//   si::NoiseRates rates;                  // per-message probabilities in parts per million
//   rates.typo = 150000;
//   std::string messy = si::apply_noise(lang, clean, rates, rng);
//
// Typos follow the language's keyboard (QWERTY, QWERTZ, AZERTY): neighbouring key, dropped,
// doubled or swapped letters. Digits are never touched (quantities stay what the label says).
#pragma once

#include <cstdint>
#include <string>

#include "data/lang.h"
#include "data/rng.h"

namespace si {

struct NoiseRates {
  uint32_t typo = 120000;
  uint32_t diacritics = 80000;
  uint32_t lowercase = 150000;
  uint32_t punctuation = 150000;
  uint32_t emoji = 60000;
  uint32_t spaces = 50000;
};

std::string apply_noise(const Language& L, std::string text, const NoiseRates& rates, Rng& rng);

// One keyboard-neighbour of an ASCII lowercase letter on the layout, or the letter itself.
char keyboard_neighbor(const std::string& layout, char c, Rng& rng);

}  // namespace si
