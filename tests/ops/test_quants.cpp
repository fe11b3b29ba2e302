// ops/cpu/quants.h: round-trip error bounds, reference dot == dequantized dot, every fast path ==
// the reference on random data, activation rounding as llama.cpp's x86 backend, bad sizes.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "core/quant_blocks.h"
#include "ops/cpu/quants.h"
#include "ops/cpu/quants_impl.h"

namespace si::cpu {
namespace {

const DType kWeightTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q4_0,
                              DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<float> random_row(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  return x;
}

std::vector<uint8_t> quantized(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(dtype_row_bytes(t, x.size()));
  quantize_row(t, x.data(), q.data(), int64_t(x.size()));
  return q;
}

std::vector<float> dequantized(DType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(t, q.data(), y.data(), n);
  return y;
}

TEST(Quants, BlockSizesMatchDTypeTable) {
  EXPECT_EQ(dtype_type_size(DType::Q4_0), int(sizeof(block_q4_0)));
  EXPECT_EQ(dtype_type_size(DType::Q8_0), int(sizeof(block_q8_0)));
  EXPECT_EQ(dtype_type_size(DType::Q4_K), int(sizeof(block_q4_K)));
  EXPECT_EQ(dtype_type_size(DType::Q5_K), int(sizeof(block_q5_K)));
  EXPECT_EQ(dtype_type_size(DType::Q6_K), int(sizeof(block_q6_K)));
  EXPECT_EQ(dtype_type_size(DType::Q8_K), int(sizeof(block_q8_K)));
}

// Relative RMS error of dequantize(quantize(x)) on Gaussian data: each format's bits buy about a
// factor 2 per bit; bounds are ~1.5x what these quantizers reach, so a broken scale fails them.
TEST(Quants, RoundTripErrorPerType) {
  const int64_t n = 4096;
  const auto x = random_row(n, 7);
  struct Case { DType t; double max_rel_rms; };
  const Case cases[] = {{DType::F16, 5e-4}, {DType::BF16, 4e-3}, {DType::Q8_0, 0.008}, {DType::Q6_K, 0.03},
                        {DType::Q5_K, 0.05}, {DType::Q4_K, 0.10}, {DType::Q4_0, 0.13}, {DType::Q8_K, 0.008}};
  for (const auto& c : cases) {
    const auto y = dequantized(c.t, quantized(c.t, x), n);
    double se = 0, sx = 0;
    for (int64_t i = 0; i < n; ++i) { se += double(y[i] - x[i]) * (y[i] - x[i]); sx += double(x[i]) * x[i]; }
    const double rel = std::sqrt(se / sx);
    EXPECT_LT(rel, c.max_rel_rms) << dtype_name(c.t);
    EXPECT_GT(rel, c.max_rel_rms / 20) << dtype_name(c.t) << ": suspiciously exact";
  }
}

// Q8_0 is plain rounding: every element within half a step (plus the fp16 rounding of the scale).
TEST(Quants, Q8_0ElementwiseBound) {
  const auto x = random_row(1024, 3, 2.0f);
  const auto y = dequantized(DType::Q8_0, quantized(DType::Q8_0, x), 1024);
  for (int64_t b = 0; b < 1024 / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    for (int j = 0; j < 32; ++j)
      EXPECT_LE(std::fabs(y[b * 32 + j] - x[b * 32 + j]), 0.5f * amax / 127 + amax * 1e-3f) << b << " " << j;
  }
}

TEST(Quants, ZeroBlocksStayZero) {
  std::vector<float> x(512, 0.0f);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    const auto y = dequantized(t, quantized(t, x), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

// The reference dot products against the dequantized vectors in double: two independent
// definitions of the same number.
TEST(Quants, ReferenceDotEqualsDequantizedDot) {
  const int64_t n = 1024;
  for (DType wt : kWeightTypes) {
    const DType at = vec_dot_type(wt);
    const auto w = quantized(wt, random_row(n, 11));
    const auto xa = random_row(n, 12);
    std::vector<uint8_t> a(dtype_row_bytes(at, n));
    quantize_act(at, xa.data(), a.data(), n);
    const auto wf = dequantized(wt, w, n);
    const auto af = dequantized(at, a, n);
    double want = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) { want += double(wf[i]) * af[i]; mag += std::fabs(double(wf[i]) * af[i]); }
    float got = 0;
    vec_dot_ref(wt, n, w.data(), a.data(), &got);
    EXPECT_NEAR(got, want, 1e-5 * mag) << dtype_name(wt);
  }
}

// Every SIMD table against the reference, 1-row and 4-row kernels, through vec_dot_rows with odd
// row counts (4-row steps plus a tail) and vec_dot_tile.
TEST(Quants, FastPathsEqualReference) {
  std::vector<const quants::DotTable*> tables = {quants::dot_table_avx2(), quants::dot_table_avx512()};
  int tested = 0;
  for (const auto* table : tables) {
    if (table == nullptr) continue;
    for (DType wt : kWeightTypes) {
      const DType at = vec_dot_type(wt);
      for (int64_t n : {256, 768, 2048}) {
        const int64_t n_rows = 7;
        const uint64_t rb = dtype_row_bytes(wt, n);
        std::vector<uint8_t> w(rb * n_rows);
        for (int64_t r = 0; r < n_rows; ++r) {
          const auto x = random_row(n, uint32_t(100 + r), r == 3 ? 10.0f : 1.0f);
          quantize_row(wt, x.data(), w.data() + r * rb, n);
        }
        const auto xa = random_row(n, 99);
        std::vector<uint8_t> a(dtype_row_bytes(at, n));
        quantize_act(at, xa.data(), a.data(), n);
        float want[n_rows], got1[n_rows], got4[4];
        for (int64_t r = 0; r < n_rows; ++r) {
          vec_dot_ref(wt, n, w.data() + r * rb, a.data(), &want[r]);
          table->dot[int(wt)](n, w.data() + r * rb, a.data(), &got1[r]);
        }
        ASSERT_NE(table->dot4[int(wt)], nullptr);
        table->dot4[int(wt)](n, w.data() + 2 * rb, rb, a.data(), got4);
        for (int64_t r = 0; r < n_rows; ++r) {
          const float tol = 2e-5f * std::fabs(want[r]) + 1e-4f * std::sqrt(float(n)) * (r == 3 ? 10.0f : 1.0f);
          EXPECT_NEAR(got1[r], want[r], tol) << table->name << " " << dtype_name(wt) << " n=" << n << " row " << r;
          if (r >= 2 && r < 6) {
            EXPECT_NEAR(got4[r - 2], want[r], tol) << table->name << " 4-row " << dtype_name(wt) << " row " << r;
          }
        }
        ++tested;
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "this CPU has no AVX2: only the scalar path exists";
}

TEST(Quants, RowsAndTileEqualSingleDots) {
  const DType wt = DType::Q4_K;
  const DType at = vec_dot_type(wt);
  const int64_t n = 512, n_rows = 11, n_act = 3;
  const uint64_t rb = dtype_row_bytes(wt, n), ab = dtype_row_bytes(at, n);
  std::vector<uint8_t> w(rb * n_rows), a(ab * n_act);
  for (int64_t r = 0; r < n_rows; ++r) quantize_row(wt, random_row(n, uint32_t(r)).data(), w.data() + r * rb, n);
  for (int64_t i = 0; i < n_act; ++i) quantize_act(at, random_row(n, uint32_t(50 + i)).data(), a.data() + i * ab, n);
  std::vector<float> tile(static_cast<size_t>(n_act * n_rows)), rows(static_cast<size_t>(n_rows));
  vec_dot_tile(wt, n, w.data(), rb, n_rows, a.data(), ab, n_act, tile.data(), n_rows);
  for (int64_t i = 0; i < n_act; ++i) {
    vec_dot_rows(wt, n, w.data(), rb, n_rows, a.data() + i * ab, rows.data());
    for (int64_t r = 0; r < n_rows; ++r) {
      float one = 0;
      vec_dot(wt, n, w.data() + r * rb, a.data() + i * ab, &one);
      EXPECT_FLOAT_EQ(rows[r], one) << "act " << i << " row " << r;   // same kernel family
      EXPECT_FLOAT_EQ(tile[i * n_rows + r], rows[r]) << "act " << i << " row " << r;
    }
  }
}

// llama.cpp's x86 backend quantizes Q8_0 activations with 127/amax and rounds half to even; the
// reference file quantizer divides by amax/127 and rounds half away from zero. 2.5 tells them apart.
TEST(Quants, Q8_0ActivationRoundsHalfToEven) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -3.5f;
  block_q8_0 act, ref;
  quantize_act(DType::Q8_0, x.data(), &act, 32);
  quantize_row(DType::Q8_0, x.data(), &ref, 32);
  EXPECT_EQ(act.qs[0], 127);
  EXPECT_EQ(act.qs[1], 2);
  EXPECT_EQ(ref.qs[1], 3);
  EXPECT_EQ(act.qs[2], -4);
  EXPECT_EQ(ref.qs[2], -4);
  EXPECT_EQ(act.d, f32_to_f16(1.0f));
}

TEST(Quants, Q8_KBlockSums) {
  const auto x = random_row(512, 5);
  const auto q = quantized(DType::Q8_K, x);
  const auto* b = reinterpret_cast<const block_q8_K*>(q.data());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int k = 0; k < 16; ++k) {
        s += b[i].qs[16 * j + k];
        ASSERT_GE(b[i].qs[16 * j + k], -127);
      }
      EXPECT_EQ(b[i].bsums[j], s);
    }
}

TEST(Quants, BadSizesAreErrors) {
  std::vector<float> x(100);
  std::vector<uint8_t> y(1024);
  EXPECT_THROW(quantize_row(DType::Q4_K, x.data(), y.data(), 100), Error);
  EXPECT_THROW(quantize_row(DType::I32, x.data(), y.data(), 32), Error);
  float out;
  EXPECT_THROW(vec_dot(DType::Q8_0, 33, y.data(), y.data(), &out), Error);
  EXPECT_THROW((void)vec_dot_type(DType::I8), Error);
}

}  // namespace
}  // namespace si::cpu
