// FP8 (e4m3) rows with per-row scales (ops/cuda/fp8.h) against the host: a reference e4m3 encoder
// and decoder (self-checked, no GPU needed), per-row quantization of F32/F16/BF16 rows (codes and
// scales bitwise), RMSNorm and SwiGLU fused with the quantization (at most one code step from
// op-then-quantize: their fp32 sums and expf differ from the host's), and the cuBLASLt FP8 matmul
// against the exact product of the decoded codes. The GPU tests skip without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "cuda_test_util.h"
#include "ops/cuda/fp8.h"
#include "ops/cuda/matmul.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::DeviceTensor;
using test::randn;
using test::rel_err;
using test::rounded;
using test::tolerance;
using test::upload_vec;

// e4m3: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 holds the subnormals
// m/8 * 2^-6. No infinities: 0x7f and 0xff are NaN, so 0x7e = 448 is the largest finite value.
float e4m3_to_f32(uint8_t c) {
  if ((c & 0x7f) == 0x7f) return NAN;
  const int e = (c >> 3) & 15, m = c & 7;
  const float mag = e == 0 ? std::ldexp(float(m) / 8.0f, -6) : std::ldexp(1.0f + float(m) / 8.0f, e - 7);
  return c & 0x80 ? -mag : mag;
}

// What cvt.rn.satfinite.e4m3 gives: the nearest finite value, ties to the even code, magnitudes
// from 448 up (infinity too) saturated to 448, the sign kept (tiny negatives give -0 = 0x80). By
// brute force over the 127 finite magnitudes; below 448 every distance is exact in double.
uint8_t f32_to_e4m3_rne_satfinite(float v) {
  if (std::isnan(v)) return 0x7f;
  const uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  const double a = std::fabs(double(v));
  if (a >= 448.0) return sign | 0x7e;
  uint8_t best = 0;
  double best_d = a;
  for (int c = 1; c <= 0x7e; ++c) {
    const double d = std::fabs(double(e4m3_to_f32(uint8_t(c))) - a);
    if (d < best_d || (d == best_d && c % 2 == 0)) best = uint8_t(c), best_d = d;
  }
  return sign | best;
}

// A code's place on the number line counted in codes (+0 and -0 both at 0), so that neighbouring
// values are one apart: the e4m3 magnitudes 0x00..0x7e increase with the code.
int code_rank(uint8_t c) { return c & 0x80 ? -int(c & 0x7f) : int(c); }

// Rows of codes with one scale each, on the host.
struct Fp8Host {
  std::vector<uint8_t> q;
  std::vector<float> scale;
};

// fp8.h's contract on fp32 rows v (rows, K): scale = amax / 448, q = e4m3(v * (448 / amax)), the
// product one fp32 multiply as in the kernel; an all-zero row gets scale 1, q 0.
Fp8Host quantize_ref(const std::vector<float>& v, int64_t rows, int64_t K) {
  Fp8Host r{std::vector<uint8_t>(v.size()), std::vector<float>(size_t(rows))};
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = v.data() + i * K;
    float amax = 0.0f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
    const float inv = amax > 0.0f ? 448.0f / amax : 1.0f;
    r.scale[size_t(i)] = amax > 0.0f ? amax / 448.0f : 1.0f;
    for (int64_t k = 0; k < K; ++k) r.q[size_t(i * K + k)] = f32_to_e4m3_rne_satfinite(x[k] * inv);
  }
  return r;
}

// Device outputs for `rows` rows of K codes, filled with NaN codes and NaN scales so that anything
// a kernel leaves unwritten fails the comparison.
struct Fp8Out {
  int64_t rows, K;
  cuda::DeviceBuffer q;
  DeviceTensor scale;
  Fp8Out(int64_t r, int64_t k, const cuda::Stream& s)
      : rows(r), K(k), q(upload_vec(std::vector<uint8_t>(size_t(r * k), 0xff), s)), scale(size_t(r), DType::F32, s) {}
  float* scale_ptr() const { return scale.buf.as<float>(); }
  Fp8Host download(const cuda::Stream& s) const {
    Fp8Host h{std::vector<uint8_t>(size_t(rows * K)), {}};
    q.download(h.q.data(), h.q.size(), s);
    s.sync();
    h.scale = scale.download(s);
    return h;
  }
};

std::string code_str(uint8_t c) { return fmt::format("0x{:02x} ({})", c, e4m3_to_f32(c)); }

// Codes and scales bitwise equal; the failure names the first difference and how many there are.
::testing::AssertionResult same_rows(const Fp8Host& got, const Fp8Host& want, int64_t K) {
  for (size_t r = 0; r < want.scale.size(); ++r)
    if (std::memcmp(&got.scale[r], &want.scale[r], 4) != 0)
      return ::testing::AssertionFailure() << fmt::format("row {}: scale {:a}, want {:a}", r, got.scale[r], want.scale[r]);
  size_t diff = 0, first = 0;
  for (size_t i = want.q.size(); i-- > 0;)
    if (got.q[i] != want.q[i]) ++diff, first = i;
  if (diff == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << fmt::format("{} of {} codes differ, first at row {} col {}: {}, want {}", diff,
                                                      want.q.size(), first / size_t(K), first % size_t(K),
                                                      code_str(got.q[first]), code_str(want.q[first]));
}

// For a fused kernel whose fp32 values differ from the host's in the last bits (sum order, expf):
// scales within 1e-5 relative, every code at most one step from the reference's (a value moves
// only when it lies at a rounding boundary) and at least 99% of them identical.
::testing::AssertionResult close_rows(const Fp8Host& got, const Fp8Host& want, int64_t K) {
  for (size_t r = 0; r < want.scale.size(); ++r)
    if (!(std::fabs(got.scale[r] - want.scale[r]) <= 1e-5f * want.scale[r]))
      return ::testing::AssertionFailure() << fmt::format("row {}: scale {}, want {}", r, got.scale[r], want.scale[r]);
  size_t diff = 0;
  for (size_t i = 0; i < want.q.size(); ++i) {
    if (got.q[i] == want.q[i]) continue;
    ++diff;
    if ((got.q[i] & 0x7f) == 0x7f || std::abs(code_rank(got.q[i]) - code_rank(want.q[i])) > 1)
      return ::testing::AssertionFailure() << fmt::format("row {} col {}: code {}, want {} (more than one step)",
                                                          i / size_t(K), i % size_t(K), code_str(got.q[i]),
                                                          code_str(want.q[i]));
  }
  if (diff * 100 > want.q.size())
    return ::testing::AssertionFailure() << fmt::format("{} of {} codes one step off (at most 1% may be)", diff,
                                                        want.q.size());
  return ::testing::AssertionSuccess();
}

TEST(Fp8Host, E4m3ReferenceRoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));        // smallest normal
  EXPECT_EQ(e4m3_to_f32(0x07), std::ldexp(7.0f / 8, -6));    // largest subnormal
  EXPECT_EQ(e4m3_to_f32(0xb8), -1.0f);
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7f)) && std::isnan(e4m3_to_f32(0xff)));
  // Magnitudes increase with the code: code_rank counts steps.
  for (int c = 1; c <= 0x7e; ++c) ASSERT_LT(e4m3_to_f32(uint8_t(c - 1)), e4m3_to_f32(uint8_t(c))) << c;

  EXPECT_EQ(f32_to_e4m3_rne_satfinite(448.0f), 0x7e);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(0.5f), 0x30);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(std::ldexp(1.0f, -9)), 0x01);  // smallest subnormal
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(-2.0f), 0xc0);
  // Saturation: past 448, halfway to the missing 480, and infinity.
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(449.0f), 0x7e);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(464.0f), 0x7e);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(1e30f), 0x7e);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(-INFINITY), 0xfe);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(NAN), 0x7f);
  // Ties go to the even code: 1.0625 lies between 1 (0x38) and 1.125 (0x39), 1.1875 between 0x39
  // and 1.25 (0x3a); 2^-10 between 0 and 2^-9, 3 * 2^-10 between 0x01 and 0x02.
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(1.0625f), 0x38);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(1.1875f), 0x3a);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(std::ldexp(3.0f, -10)), 0x02);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(-1.0625f), 0xb8);
  // Just off a tie: nearest.
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(std::nextafter(1.0625f, 2.0f)), 0x39);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(std::nextafter(1.1875f, 0.0f)), 0x39);
  // Underflow keeps the sign.
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(1e-5f), 0x00);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(-1e-5f), 0x80);
  EXPECT_EQ(f32_to_e4m3_rne_satfinite(-0.0f), 0x80);
  // Every finite code comes back as itself.
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    ASSERT_EQ(f32_to_e4m3_rne_satfinite(e4m3_to_f32(uint8_t(c))), c) << c;
  }
}

// Rows that reach the corners: ordinary, small, all zero, one whose largest magnitude is negative
// (in the last column: the loop's tail thread), and one spanning 1e-6 .. 1e3 (codes down to the
// subnormals and to +-0).
std::vector<float> quantize_input(int64_t K, uint32_t seed) {
  const int64_t M = 6;
  std::vector<float> x = randn(size_t(M * K), seed);
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<float> expo(-6.0f, 3.0f);
  for (int64_t k = 0; k < K; ++k) {
    x[size_t(1 * K + k)] *= 0.01f;
    x[size_t(2 * K + k)] = 0.0f;
    x[size_t(4 * K + k)] = (rng() & 1 ? -1.0f : 1.0f) * std::pow(10.0f, expo(rng));
    x[size_t(5 * K + k)] *= 100.0f;
  }
  x[size_t(3 * K + K - 1)] = -20.0f;  // randn stays well inside 20 here
  return x;
}

TEST(Fp8Cuda, QuantizeRowsIsTheReferenceBitwise) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  // 272 = 34 threads' worth of 8; 2064 = one full 2048-value pass and 16 more; 4096 = two passes.
  for (const int64_t K : {272, 2064, 4096}) {
    for (const DType t : {DType::F32, DType::F16, DType::BF16}) {
      const int64_t M = 6;
      const std::vector<float> x = rounded(quantize_input(K, uint32_t(K)), t);
      DeviceTensor dx(x, t, s);
      Fp8Out out(M, K, s);
      cuda::fp8_quantize_rows(t, dx.data(), M, K, out.q.data(), out.scale_ptr(), s.get());
      const Fp8Host got = out.download(s);
      EXPECT_TRUE(same_rows(got, quantize_ref(x, M, K), K)) << dtype_name(t) << " K=" << K;
      EXPECT_EQ(got.scale[2], 1.0f) << "all-zero row";
    }
  }
}

TEST(Fp8Cuda, RmsNormFp8MatchesNormThenQuantize) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const float eps = 1e-5f;
  for (const int64_t C : {2048, 272}) {
    for (const int64_t T : {1, 37}) {
      std::vector<float> x = randn(size_t(T * C), uint32_t(C + T), 2.0f);
      const std::vector<float> w = randn(size_t(C), uint32_t(C + T + 1));
      if (T > 1) std::fill(x.begin() + C, x.begin() + 2 * C, 0.0f);  // row 1 all zero: scale 1, q 0
      std::vector<float> v(x.size());
      for (int64_t r = 0; r < T; ++r) {
        double ss = 0;
        for (int64_t c = 0; c < C; ++c) ss += double(x[size_t(r * C + c)]) * x[size_t(r * C + c)];
        const float rstd = 1.0f / std::sqrt(float(ss) / float(C) + eps);
        for (int64_t c = 0; c < C; ++c) v[size_t(r * C + c)] = w[size_t(c)] * (x[size_t(r * C + c)] * rstd);
      }
      DeviceTensor dx(x, DType::F32, s), dw(w, DType::F32, s);
      Fp8Out out(T, C, s);
      cuda::rms_norm_fp8(dx.buf.as<float>(), dw.buf.as<float>(), eps, out.q.data(), out.scale_ptr(), T, C, s.get());
      EXPECT_TRUE(close_rows(out.download(s), quantize_ref(v, T, C), C)) << "T=" << T << " C=" << C;
    }
  }
}

TEST(Fp8Cuda, SwigluFp8MatchesSwigluThenQuantize) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  for (const DType t : {DType::F16, DType::BF16}) {
    for (const int64_t F : {272, 8192}) {
      // gate and up side by side in one (T, 2F) buffer, as the runner's fused gate|up matmul leaves them.
      const int64_t T = 9, ld = 2 * F;
      const std::vector<float> gu = rounded(randn(size_t(T * ld), uint32_t(F) + 7, 2.0f), t);
      std::vector<float> v(size_t(T * F));
      for (int64_t r = 0; r < T; ++r)
        for (int64_t f = 0; f < F; ++f) {
          const float g = gu[size_t(r * ld + f)], u = gu[size_t(r * ld + F + f)];
          v[size_t(r * F + f)] = g / (1.0f + std::exp(-g)) * u;
        }
      DeviceTensor dgu(gu, t, s);
      const char* gate = static_cast<const char*>(dgu.data());
      Fp8Out out(T, F, s);
      cuda::swiglu_fp8(t, gate, gate + F * 2, ld, out.q.data(), out.scale_ptr(), T, F, s.get());
      EXPECT_TRUE(close_rows(out.download(s), quantize_ref(v, T, F), F)) << dtype_name(t) << " F=" << F;
    }
  }
}

// Random finite codes (every one but the NaNs 0x7f, 0xff).
std::vector<uint8_t> random_codes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, 253);
  std::vector<uint8_t> q(n);
  for (auto& c : q) {
    const int i = d(rng);
    c = uint8_t(i < 0x7f ? i : i + 1);
  }
  return q;
}

// Scales as a row amax / 448 of activations or weights gives them.
std::vector<float> random_scales(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(0.002f, 0.02f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Fp8Cuda, MatmulIsTheScaledProductOfTheCodes) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  cuda::Blas blas;
  struct Shape { int64_t M, N, K; };
  for (const Shape sh : {Shape{1, 48, 64}, Shape{33, 80, 272}, Shape{128, 256, 2048}}) {
    const auto [M, N, K] = sh;
    const std::vector<uint8_t> xq = random_codes(size_t(M * K), uint32_t(K)), wq = random_codes(size_t(N * K), uint32_t(K + 1));
    const std::vector<float> xs = random_scales(size_t(M), uint32_t(K + 2)), ws = random_scales(size_t(N), uint32_t(K + 3));
    // Every product of two e4m3 values is exact in double, and so is their sum at these sizes.
    std::vector<float> ref(size_t(M * N));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += double(e4m3_to_f32(xq[size_t(m * K + k)])) * double(e4m3_to_f32(wq[size_t(n * K + k)]));
        ref[size_t(m * N + n)] = float(double(xs[size_t(m)]) * double(ws[size_t(n)]) * acc);
      }
    auto dxq = upload_vec(xq, s), dwq = upload_vec(wq, s), dxs = upload_vec(xs, s), dws = upload_vec(ws, s);
    const cuda::Fp8Rows x{dxq.data(), dxs.as<float>()}, w{dwq.data(), dws.as<float>()};
    const std::string shape = fmt::format("M={} N={} K={}", M, N, K);

    // Hopper's FP8 MMA is not an fp32 sum: it aligns each K step's products to the largest and
    // keeps a limited number of bits (DeepSeek-V3 reports 14), so codes of all magnitudes (sums
    // that cancel) show ~1e-4 even at K = 64. Without fast_accum cuBLASLt moves the sum to fp32 every few K steps, with it
    // only at the end, so the error grows with K. Measured on an H100 (cuBLAS 13.0): 1.1e-4 ..
    // 2.2e-4 without, up to 8.3e-4 (K = 2048) with fast_accum; the bounds leave 4x. Wrong scales, a
    // transposed operand or a lost C give errors of order 1.
    for (const bool fast : {false, true}) {
      DeviceTensor y(size_t(M * N), DType::F32, s);
      blas.matmul_fp8(x, M, K, w, N, DType::F32, y.data(), false, fast, s.get());
      const std::vector<float> got = y.download(s);
      EXPECT_LT(rel_err(got, ref), fast ? 3.5e-3 : 1e-3)
          << shape << " F32 fast_accum=" << fast << ": y[0][0] = " << got[0] << ", want " << ref[0];
    }
    {
      DeviceTensor y(size_t(M * N), DType::F16, s);
      blas.matmul_fp8(x, M, K, w, N, DType::F16, y.data(), false, false, s.get());
      const std::vector<float> got = y.download(s);
      EXPECT_LT(rel_err(got, ref), tolerance(DType::F16)) << shape << " F16: y[0][0] = " << got[0] << ", want " << ref[0];
    }
    {
      // accumulate adds into y: a start of the product's own size, so that dropping either term
      // (or adding one twice) is far outside the tolerance.
      double ms = 0;
      for (const float r : ref) ms += double(r) * r;
      const std::vector<float> start = randn(size_t(M * N), uint32_t(K + 4), float(std::sqrt(ms / double(ref.size()))));
      std::vector<float> want(ref.size());
      for (size_t i = 0; i < ref.size(); ++i) want[i] = start[i] + ref[i];
      DeviceTensor y(start, DType::F32, s);
      blas.matmul_fp8(x, M, K, w, N, DType::F32, y.data(), true, false, s.get());
      const std::vector<float> got = y.download(s);
      EXPECT_LT(rel_err(got, want), 1e-3) << shape << " accumulate: y[0][0] = " << got[0] << ", want " << want[0]
                                          << " (start " << start[0] << ")";
    }
  }
}

TEST(Fp8Cuda, BadShapesAndPointersThrowBeforeLaunching) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  cuda::Blas blas;
  const int64_t M = 4, K = 64;
  DeviceTensor x(randn(size_t(M * K), 1), DType::F16, s);
  Fp8Out out(M, K, s);
  const char* xp = static_cast<const char*>(x.data());
  char* qp = static_cast<char*>(out.q.data());
  float* sp = out.scale_ptr();

  EXPECT_THROW(cuda::fp8_quantize_rows(DType::F16, xp, M, 20, qp, sp, s.get()), Error);  // K not a multiple of 16
  EXPECT_THROW(cuda::fp8_quantize_rows(DType::F16, xp + 2, M, 32, qp, sp, s.get()), Error);  // x off 16 bytes
  EXPECT_THROW(cuda::fp8_quantize_rows(DType::F16, xp, M, 32, qp + 8, sp, s.get()), Error);  // q off 16 bytes
  EXPECT_THROW(cuda::fp8_quantize_rows(DType::I8, xp, M, 32, qp, sp, s.get()), Error);
  EXPECT_THROW(cuda::rms_norm_fp8(x.buf.as<float>(), x.buf.as<float>(), 1e-5f, qp, sp, M, 20, s.get()), Error);
  // SwiGLU's gate|up rows of 33 16-bit values (66 bytes) break the 16-byte alignment of every row after the first.
  EXPECT_THROW(cuda::swiglu_fp8(DType::F16, xp, xp + 32, 33, qp, sp, 1, 16, s.get()), Error);
  EXPECT_THROW(cuda::swiglu_fp8(DType::F32, xp, xp + 64, 32, qp, sp, 1, 16, s.get()), Error);

  const cuda::Fp8Rows rows{out.q.data(), sp};
  DeviceTensor y(size_t(M * M), DType::F32, s);
  EXPECT_THROW(blas.matmul_fp8(rows, M, 24, rows, M, DType::F32, y.data(), false, false, s.get()), Error);

  // Nothing ran: no launch error is pending and every output still holds its NaN fill.
  s.sync();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  const Fp8Host after = out.download(s);
  EXPECT_TRUE(std::all_of(after.q.begin(), after.q.end(), [](uint8_t c) { return c == 0xff; }));
  EXPECT_TRUE(std::all_of(after.scale.begin(), after.scale.end(), [](float v) { return std::isnan(v); }));
  const std::vector<float> yv = y.download(s);
  EXPECT_TRUE(std::all_of(yv.begin(), yv.end(), [](float v) { return std::isnan(v); }));
}

}  // namespace
}  // namespace si
