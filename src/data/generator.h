// data/generator.h — synthetic multilingual datasets for a task spec (shopintent datagen).
//
//   si::GenOptions opt;
//   opt.task = "cart"; opt.langs = {"en", "de"}; opt.n = 10000; opt.seed = 42; opt.out_dir = "data-out";
//   si::GenSummary s = si::generate_dataset(opt);   // train/valid/test/test_heldout.jsonl + stats.json
//
// Output is a function of (options, data files) only: every row has its own PRNG stream
// mix(seed, row, attempt), strata are visited in a fixed cycle (language x intent), and splits are
// assigned per stratum by largest deficit, so shares are exact up to one row per stratum.
// Hygiene: a row whose normalised request already occurs in another split is re-drawn (up to 16
// tries, then dropped and counted); the held-out split uses templates and products that the
// other splits never see (not even as catalog distractors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/noise.h"

namespace si {

struct GenOptions {
  std::string task = "cart";            // spec name or path
  std::vector<std::string> langs;       // empty: every language in data/lang
  int64_t n = 1000;                     // rows in all splits together (before dropped duplicates)
  uint64_t seed = 1;
  std::string out_dir;
  std::string lang_root;                // default: data_dir() + "/lang"
  NoiseRates noise;
  uint32_t code_switch_ppm = 100000;    // catalog in another of `langs` than the request
  int catalog_min = 5, catalog_max = 30;  // catalog entries per row (cart specs), uniform in [min, max]
  uint32_t valid_ppm = 50000, test_ppm = 50000, heldout_ppm = 50000;
  bool quiet = false;
  bool meta = false;                    // also write <split>.meta.jsonl: template ids, catalog language
};

struct GenSummary {
  int64_t train = 0, valid = 0, test = 0, heldout = 0, dropped = 0;
  double seconds = 0;
};

GenSummary generate_dataset(const GenOptions& opt);

// The languages with resources under lang_root (sorted).
std::vector<std::string> available_languages(const std::string& lang_root);

}  // namespace si
