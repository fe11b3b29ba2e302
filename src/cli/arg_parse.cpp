// cli/arg_parse.cpp — see arg_parse.h.
#include "cli/arg_parse.h"

#include <charconv>

#include "core/error.h"

namespace si::cli {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

void parse_int_range(const std::string& s, const char* option, int& lo, int& hi) {
  const char* const end = s.data() + s.size();
  auto number = [&](const char* p, int& v) { return std::from_chars(p, end, v); };
  auto [p, ec] = number(s.data(), lo);
  bool ok = ec == std::errc() && p != s.data();
  hi = lo;
  if (ok && p != end) {
    const char* q = p + 1;
    auto [r, ec2] = number(q, hi);
    ok = *p == '-' && ec2 == std::errc() && r == end && r != q;
  }
  if (!ok || lo < 0 || hi < 0) fail("{} must be MIN-MAX (e.g. 5-30) or N, got \"{}\"", option, s);
}

}  // namespace si::cli
