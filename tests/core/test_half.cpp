#include <cmath>
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/half.h"

namespace si {
namespace {

// Round-to-nearest-even reference built from doubles: the f16 closest to x.
uint16_t f16_reference(float x) {
  uint16_t best = 0;
  double best_err = INFINITY;
  // Search the two candidates around x by scanning the monotone positive range.
  const double ax = std::fabs(double(x));
  uint16_t lo = 0, hi = 0x7c00;
  while (hi - lo > 1) {
    const uint16_t mid = uint16_t((lo + hi) / 2);
    if (double(f16_to_f32(mid)) <= ax) lo = mid; else hi = mid;
  }
  for (uint16_t c : {lo, hi}) {
    const double err = std::fabs(double(f16_to_f32(c)) - ax);
    if (err < best_err || (err == best_err && (c & 1) == 0)) { best = c; best_err = err; }
  }
  if (ax >= 65520.0) best = 0x7c00;  // overflow to infinity
  return uint16_t(best | (std::signbit(x) ? 0x8000 : 0));
}

TEST(Half, F16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << "h=" << h;
  }
}

TEST(Half, F16RoundsToNearestEven) {
  uint32_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1664525u + 1013904223u;
    const float x = std::ldexp(float(int32_t(state)) / 2147483648.0f, int(state % 40) - 28);
    ASSERT_EQ(f32_to_f16(x), f16_reference(x)) << "x=" << x;
  }
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
}

#if defined(__F16C__)
TEST(Half, F16MatchesF16C) {
  uint32_t state = 7;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1664525u + 1013904223u;
    const float x = bits_f32(state);
    if (std::isnan(x)) continue;
    ASSERT_EQ(f32_to_f16(x), _cvtss_sh(x, 0)) << "x=" << x;
  }
}
#endif

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808001u)), 0x3f81);
  EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bf16_to_f32(uint16_t(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), b);
  }
}

}  // namespace
}  // namespace si
