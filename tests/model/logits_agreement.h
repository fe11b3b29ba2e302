// tests/model/logits_agreement.h — GPU logits against CPU logits: relative error, largest
// difference, and top-1 agreement on the rows where the CPU's top-1 is decided (it leads its
// runner-up by more than twice the largest difference seen, so rounding cannot swap them).
//
//   test::expect_close(test::compare(gpu, cpu, V), "prefill");   // rel < 2e-2, every decided top-1
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <gtest/gtest.h>

namespace si::test {

struct Agreement {
  double rel = 0;
  float max_abs = 0;
  int rows = 0, decided = 0, agree = 0;
};

// Logits (n, V) of the GPU against the CPU.
inline Agreement compare(const std::vector<float>& gpu, const std::vector<float>& cpu, int64_t V) {
  Agreement a;
  double num = 0, den = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double d = double(gpu[i]) - cpu[i];
    num += d * d;
    den += double(cpu[i]) * cpu[i];
    a.max_abs = std::max(a.max_abs, std::isfinite(gpu[i]) ? float(std::fabs(d)) : INFINITY);
  }
  a.rel = std::sqrt(num / den);
  a.rows = int(cpu.size() / size_t(V));
  for (int r = 0; r < a.rows; ++r) {
    const float* c = cpu.data() + int64_t(r) * V;
    const float* g = gpu.data() + int64_t(r) * V;
    const int64_t top = std::max_element(c, c + V) - c;
    float second = -INFINITY;
    for (int64_t v = 0; v < V; ++v)
      if (v != top) second = std::max(second, c[v]);
    if (c[top] - second > 2 * a.max_abs) {
      ++a.decided;
      a.agree += (std::max_element(g, g + V) - g) == top;
    }
  }
  return a;
}

inline void expect_close(const Agreement& a, const char* what, double rel_tol = 2e-2) {
  std::printf("%s: rel %.2e, max |diff| %.3e, argmax agrees on %d of %d decided rows (%d rows)\n", what, a.rel,
              double(a.max_abs), a.agree, a.decided, a.rows);
  EXPECT_LT(a.rel, rel_tol) << what;
  EXPECT_EQ(a.agree, a.decided) << what;
}

}  // namespace si::test
