// cli/arg_parse.h — small parsers for option values that several commands share.
//
//   si::cli::split_commas("en,de,,fr");                     // {"en", "de", "fr"}
//   int lo, hi; si::cli::parse_int_range("5-30", "--catalog-size", lo, hi);   // 5, 30 ("7" -> 7, 7)
#pragma once

#include <string>
#include <vector>

namespace si::cli {

// The comma-separated items of `s`, empty items dropped.
std::vector<std::string> split_commas(const std::string& s);

// "MIN-MAX" or "N" (both bounds N) of non-negative integers; throws si::Error naming `option`.
void parse_int_range(const std::string& s, const char* option, int& lo, int& hi);

}  // namespace si::cli
