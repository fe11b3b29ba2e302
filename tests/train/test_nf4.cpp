// NF4: the published code values, bitsandbytes' packing and block layout, double quantization of the
// scales, and the reconstruction error on Gaussian weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "quant/nf4.h"
#include "train/rng.h"

namespace si {
namespace {

TEST(Nf4, CodeValuesArePublishedTable) {
  const float* c = nf4_code();
  EXPECT_EQ(c[0], -1.0f);
  EXPECT_EQ(c[7], 0.0f);
  EXPECT_EQ(c[15], 1.0f);
  EXPECT_FLOAT_EQ(c[1], -0.6961928009986877f);
  EXPECT_FLOAT_EQ(c[8], 0.07958029955625534f);
  EXPECT_FLOAT_EQ(c[14], 0.7229568362236023f);
  for (int i = 0; i < 15; i++) EXPECT_LT(c[i], c[i + 1]);
  // Every code maps to itself, and the decision tree picks the nearest code everywhere.
  for (int i = 0; i < 16; i++) EXPECT_EQ(nf4_quantize_value(c[i]), i);
  for (int k = 0; k <= 2000; k++) {
    const float x = -1.0f + 2.0f * float(k) / 2000.0f;
    const int q = nf4_quantize_value(x);
    for (int j = 0; j < 16; j++) EXPECT_LE(std::fabs(c[q] - x), std::fabs(c[j] - x) + 1e-6f) << x;
  }
}

TEST(Nf4, PackingHighNibbleFirstAndBlockAbsmax) {
  std::vector<float> x(128, 0.0f);
  x[0] = -2.0f;  // block 0 absmax 2: x[0] -> code 0, x[1] = 2 -> code 15
  x[1] = 2.0f;
  x[2] = 0.5f;   // 0.25 of absmax -> code 10 (0.246)
  x[64] = 3.0f;  // block 1 absmax 3
  const Nf4Tensor q = nf4_quantize(x.data(), int64_t(x.size()), /*double_quant=*/false);
  ASSERT_EQ(q.packed.size(), 64u);
  ASSERT_EQ(q.absmax.size(), 2u);
  EXPECT_EQ(q.absmax[0], 2.0f);
  EXPECT_EQ(q.absmax[1], 3.0f);
  EXPECT_EQ(q.packed[0], 0x0F);  // element 0 high nibble, element 1 low nibble
  EXPECT_EQ(q.packed[1], 0xA7);  // 0.5/2 -> 10, 0 -> 7
  EXPECT_EQ(q.packed[32], 0xF7);
  std::vector<float> back(x.size());
  nf4_dequantize(q, back.data());
  EXPECT_EQ(back[0], -2.0f);
  EXPECT_EQ(back[1], 2.0f);
  EXPECT_FLOAT_EQ(back[2], 2.0f * nf4_code()[10]);
  EXPECT_EQ(back[64], 3.0f);
}

TEST(Nf4, DynamicMapIsBitsandbytesSigned) {
  const float* m = nf4_dq_code();
  EXPECT_EQ(m[255], 1.0f);
  int zeros = 0;
  for (int i = 0; i < 256; i++) zeros += m[i] == 0.0f;
  EXPECT_EQ(zeros, 1);
  for (int i = 0; i < 255; i++) EXPECT_LT(m[i], m[i + 1]);
  EXPECT_FLOAT_EQ(m[0], -0.99296875f);  // -(1 - 0.9/128): mean of the last two of linspace(0.1, 1, 65)
  EXPECT_EQ(m[127], 0.0f);               // 127 negative values, then 0, then 127 positive and 1.0
  EXPECT_FLOAT_EQ(m[126], -5.5e-7f);     // smallest magnitude: 1e-6 * mean(0.1, 1)
}

TEST(Nf4, ReconstructionErrorOnGaussianWeights) {
  const int64_t n = 64 * 1024;
  std::vector<float> w(static_cast<size_t>(n));
  train::Rng r(7);
  for (auto& v : w) v = float(r.normal() * 0.02);
  double err_plain = 0, err_dq = 0, ref = 0;
  for (int dq = 0; dq < 2; dq++) {
    const Nf4Tensor q = nf4_quantize(w.data(), n, dq == 1);
    std::vector<float> back(static_cast<size_t>(n));
    nf4_dequantize(q, back.data());
    double e = 0;
    for (int64_t i = 0; i < n; i++) e += (double(back[size_t(i)]) - w[size_t(i)]) * (double(back[size_t(i)]) - w[size_t(i)]);
    (dq ? err_dq : err_plain) = std::sqrt(e / double(n));
    if (dq) {
      EXPECT_LT(double(q.bytes()) * 8.0 / double(n), 4.2);  // 4 + 8/64 + 32/(64*256) bits per weight
    }
  }
  for (float v : w) ref += double(v) * v;
  ref = std::sqrt(ref / double(n));
  const double rel_plain = err_plain / ref, rel_dq = err_dq / ref;
  std::printf("NF4 relative RMS reconstruction error on N(0, 0.02): %.4f (fp32 absmax), %.4f (double quant)\n", rel_plain,
              rel_dq);
  // NF4 is information-theoretically tuned for normal weights: ~10% relative RMS error.
  EXPECT_GT(rel_plain, 0.05);
  EXPECT_LT(rel_plain, 0.12);
  EXPECT_LT(rel_dq, rel_plain * 1.05);  // 8-bit scales cost little
}

TEST(Nf4, OddSizesAndZeroBlocks) {
  std::vector<float> x(131, 0.0f);
  x[130] = -1.5f;
  const Nf4Tensor q = nf4_quantize(x.data(), 131);
  EXPECT_EQ(q.packed.size(), 66u);
  EXPECT_EQ(q.n_blocks(), 3);
  std::vector<float> back(131);
  nf4_dequantize(q, back.data());
  for (int i = 0; i < 130; i++) EXPECT_EQ(back[size_t(i)], 0.0f);
  EXPECT_NEAR(back[130], -1.5f, 0.02f);  // only the 8-bit scale error remains
}

}  // namespace
}  // namespace si
