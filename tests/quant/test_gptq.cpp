// quant/gptq.h: GPTQ equals round-to-nearest when H = I, beats it on ||WX - QX||^2 with correlated
// inputs, handles act-order (g_idx), dead inputs, and its codes pack into a checkpoint that
// dequantizes to exactly the weight it reports.
#include <algorithm>
#include <cmath>
#include <iostream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "quant/gptq.h"
#include "gptq_test_data.h"

namespace si {
namespace {

using test::correlated_inputs;
using test::normal;

// ||W X^T - Q X^T||^2 over the rows of x, directly.
double output_error(const std::vector<float>& w, const big_vector<float>& q, const std::vector<float>& x, int64_t out,
                    int64_t in) {
  const int64_t rows = int64_t(x.size()) / in;
  double e = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double d = 0;
      for (int64_t i = 0; i < in; ++i) d += double(w[size_t(o * in + i)] - q[size_t(o * in + i)]) * x[size_t(r * in + i)];
      e += d * d;
    }
  return e;
}

TEST(Gptq, HessianIsTwoOverNTimesXtX) {
  const int64_t in = 12, rows = 40;
  const std::vector<float> x = normal(rows * in, 1, 1.0f);
  GptqHessian h(in);
  h.add(x.data(), 25, 2);
  h.add(x.data() + 25 * in, rows - 25, 3);
  const auto m = h.matrix();
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < in; ++j) {
      double s = 0;
      for (int64_t r = 0; r < rows; ++r) s += double(x[size_t(r * in + i)]) * x[size_t(r * in + j)];
      EXPECT_NEAR(m[size_t(i * in + j)], 2.0 / 5.0 * s, 1e-4 * (1 + std::fabs(s)));
    }
}

// With a pool (upper-triangle column blocks on its threads) H is bitwise what one thread makes,
// for in wider than one 256-column block and a row count over one 4096-row chunk.
TEST(Gptq, HessianOnAPoolIsTheSingleThreadedOne) {
  const int64_t in = 600, rows = 4500;
  const std::vector<float> x = normal(rows * in, 2, 1.0f);
  GptqHessian one(in);
  one.add(x.data(), rows, 3);
  for (const int threads : {2, 3}) {
    ThreadPool pool(threads);
    GptqHessian h(in);
    h.add(x.data(), rows, 3, &pool);
    const auto a = h.matrix(), b = one.matrix();
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin())) << threads << " threads";
  }
}

TEST(Gptq, IdentityHessianGivesRoundToNearest) {
  const int64_t out = 32, in = 256;
  const std::vector<float> w = normal(out * in, 2, 0.02f);
  const GptqHessian h = GptqHessian::identity(in);
  for (int bits : {4, 8})
    for (int gs : {32, 128, -1})
      for (bool sym : {true, false})
        for (bool act : {false, true}) {
          SCOPED_TRACE(testing::Message() << bits << " bits, group " << gs << (sym ? " sym" : " asym") << (act ? " act" : ""));
          GptqOptions o;
          o.bits = bits, o.group_size = gs, o.sym = sym, o.desc_act = act;
          const GptqResult g = gptq_quantize(w.data(), out, in, h, o);
          const GptqResult r = rtn_quantize(w.data(), out, in, o, &h);
          EXPECT_EQ(g.codes.q, r.codes.q);
          EXPECT_EQ(g.codes.zero, r.codes.zero);
          EXPECT_EQ(g.codes.scale, r.codes.scale);
          EXPECT_EQ(g.codes.g_idx, r.codes.g_idx);
          EXPECT_EQ(g.w, r.w);
          EXPECT_NEAR(g.err, r.err, 1e-6 * r.err);  // GPTQ measures through its error identity, RTN by GEMM
        }
}

TEST(Gptq, BeatsRoundToNearestOnCorrelatedInputs) {
  const int64_t out = 64, in = 256, rows = 1024;
  const std::vector<float> w = normal(out * in, 3, 0.02f);
  const std::vector<float> x = correlated_inputs(rows, in, 4);
  GptqHessian h(in);
  h.add(x.data(), rows, rows);
  for (int bits : {4, 8})
    for (int gs : {32, 128})
      for (bool act : {false, true}) {
        GptqOptions o;
        o.bits = bits, o.group_size = gs, o.desc_act = act;
        const GptqResult g = gptq_quantize(w.data(), out, in, h, o);
        const GptqResult r = rtn_quantize(w.data(), out, in, o, &h);
        const double ratio = g.err / r.err;
        std::cout << "[ratio] " << bits << "-bit group " << gs << (act ? " act-order" : "") << ": GPTQ/RTN ||WX-QX||^2 = "
                  << ratio << " (GPTQ rel " << g.rel_err() << ", RTN rel " << r.rel_err() << ")\n";
        EXPECT_LT(ratio, 0.9) << bits << " bits, group " << gs << (act ? " act" : "");
        // err is measured through H: it equals 2/n ||W X - Q X||^2 computed from the rows.
        if (bits == 4 && gs == 128 && !act) {
          const double direct = output_error(w, g.w, x, out, in) * 2.0 / double(rows);
          EXPECT_NEAR(g.err, direct, 1e-3 * direct);
        }
      }
}

TEST(Gptq, ActOrderGIdxIsTheDescendingDiagonalOrder) {
  const int64_t out = 16, in = 128, rows = 512, gs = 32;
  const std::vector<float> w = normal(out * in, 5, 0.02f);
  const std::vector<float> x = correlated_inputs(rows, in, 6);
  GptqHessian h(in);
  h.add(x.data(), rows, 8);
  GptqOptions o;
  o.group_size = int(gs), o.desc_act = true;
  const GptqResult g = gptq_quantize(w.data(), out, in, h, o);
  // Every group holds exactly gs inputs, and they are the inputs of the k-th largest H_ii.
  const auto m = h.matrix();
  std::vector<int64_t> order(static_cast<size_t>(in));
  for (int64_t i = 0; i < in; ++i) order[size_t(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return m[size_t(a * in + a)] > m[size_t(b * in + b)]; });
  std::vector<int> count(size_t(in / gs), 0);
  for (int64_t k = 0; k < in; ++k) {
    EXPECT_EQ(g.codes.g_idx[size_t(order[size_t(k)])], k / gs);
    count[size_t(g.codes.g_idx[size_t(order[size_t(k)])])]++;
  }
  for (int c : count) EXPECT_EQ(c, gs);
  bool monotone = true;  // act-order on these inputs really permutes (the loud channels go first)
  for (int64_t i = 1; i < in; ++i) monotone = monotone && g.codes.g_idx[size_t(i)] >= g.codes.g_idx[size_t(i - 1)];
  EXPECT_FALSE(monotone);
  // The packed checkpoint dequantizes (through g_idx) to exactly the weight GPTQ reports.
  for (GptqFormat f : {GptqFormat::v1, GptqFormat::v2}) {
    const GptqPacked p = gptq_pack(g.codes, f);
    big_vector<float> back(size_t(out * in));
    gptq_dequantize(p.view(), f, 0, out, back.data());
    EXPECT_EQ(back, g.w);
  }
}

TEST(Gptq, AsymmetricV1ZeroPointsArePackable) {
  // Groups of non-negative weights would get zero point 0, which the v1 format cannot store.
  const int64_t out = 8, in = 64;
  std::vector<float> w = normal(out * in, 7, 0.02f);
  for (float& v : w) v = std::fabs(v);
  GptqOptions o;
  o.sym = false, o.group_size = 32;
  const GptqResult r = rtn_quantize(w.data(), out, in, o);
  for (int32_t z : r.codes.zero) EXPECT_GE(z, 1);
  EXPECT_NO_THROW(gptq_pack(r.codes, GptqFormat::v1));
  for (size_t k = 0; k < w.size(); ++k) EXPECT_NEAR(r.w[k], w[k], 0.07 * 0.1);  // the grid still covers [0, max]
}

TEST(Gptq, DeadInputsAreZeroed) {
  const int64_t out = 8, in = 64, rows = 200;
  const std::vector<float> w = normal(out * in, 8, 0.02f);
  std::vector<float> x = normal(rows * in, 9, 1.0f);
  for (int64_t r = 0; r < rows; ++r) x[size_t(r * in + 5)] = 0;  // input 5 never fires
  GptqHessian h(in);
  h.add(x.data(), rows, 1);
  const GptqResult g = gptq_quantize(w.data(), out, in, h, GptqOptions{});
  EXPECT_EQ(g.dead, 1);
  for (int64_t o = 0; o < out; ++o) EXPECT_EQ(g.w[size_t(o * in + 5)], 0.0f);
}

TEST(Gptq, RejectsBadOptions) {
  const std::vector<float> w(64, 0.1f);
  const GptqHessian h = GptqHessian::identity(16);
  GptqOptions o;
  o.bits = 3;
  EXPECT_THROW(gptq_quantize(w.data(), 4, 16, h, o), Error);
  o.bits = 4, o.damp_percent = 0;
  EXPECT_THROW(gptq_quantize(w.data(), 4, 16, h, o), Error);
  EXPECT_THROW(gptq_quantize(w.data(), 8, 8, h, GptqOptions{}), Error);  // Hessian 16 x 16 for 8 inputs
  EXPECT_THROW(GptqHessian(4).matrix(), Error);                          // no calibration data
}

}  // namespace
}  // namespace si
