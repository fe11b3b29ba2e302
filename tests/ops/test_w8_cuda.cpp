// int8 rows with per-row scales (ops/cuda/w8.h: the 8-bit embedding / LM head of 4-bit models)
// against the host: quantization (exact codes and scales, error at most half a step), the embedding
// lookup and the dequantized rows (exact), the GEMV at 1-16 rows and the selected-row kernels
// against the fp32 reference on the dequantized weights. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/half.h"
#include "cuda_test_util.h"
#include "ops/cuda/w8.h"
#include "ops/matmul.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::DeviceTensor;
using test::randn;
using test::upload_vec;
using test::rel_err;
using test::rounded;
using test::view;

template <typename T>
std::vector<T> download_vec(const void* d, size_t n, const cuda::Stream& s) {
  std::vector<T> v(n);
  SI_CUDA_CHECK(cudaMemcpyAsync(v.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost, s.get()));
  s.sync();
  return v;
}

// A quantized (N, K) matrix on the device, made from fp16-rounded normal weights (row 3 all zero).
struct W8Fixture {
  int64_t N, K;
  std::vector<float> w;  // fp16-rounded source
  cuda::DeviceBuffer q, scale;
  std::vector<int8_t> hq;
  std::vector<float> hscale;
  W8Fixture(int64_t n, int64_t k, uint32_t seed, const cuda::Stream& s)
      : N(n), K(k), w(rounded(randn(size_t(n * k), seed, 0.05f), DType::F16)), q(size_t(n * k) + 16, "q"),
        scale(size_t(n) * 4, "scale") {
    std::fill(w.begin() + 3 * K, w.begin() + 4 * K, 0.0f);
    DeviceTensor src(w, DType::F16, s);
    cuda::w8_quantize(DType::F16, src.data(), N, K, q.as<int8_t>(), scale.as<float>(), s.get());
    hq = download_vec<int8_t>(q.data(), size_t(N * K), s);
    hscale = download_vec<float>(scale.data(), size_t(N), s);
  }
  cuda::W8Weight weight() const { return {N, K, q.as<int8_t>(), scale.as<float>()}; }
  std::vector<float> dequantized() const {
    std::vector<float> d(size_t(N * K));
    for (int64_t i = 0; i < N * K; ++i) d[size_t(i)] = float(hq[size_t(i)]) * hscale[size_t(i / K)];
    return d;
  }
};

TEST(CudaW8, QuantizeGivesNearestCodesOfTheRowScale) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const W8Fixture f(40, 528, 1, s);
  for (int64_t n = 0; n < f.N; ++n) {
    float m = 0.0f;
    for (int64_t k = 0; k < f.K; ++k) m = std::max(m, std::fabs(f.w[size_t(n * f.K + k)]));
    ASSERT_EQ(f.hscale[size_t(n)], m / 127.0f) << "row " << n;
    const float inv = m > 0.0f ? 127.0f / m : 0.0f;
    for (int64_t k = 0; k < f.K; ++k) {
      const size_t i = size_t(n * f.K + k);
      const int want = int(std::nearbyint(std::clamp(f.w[i] * inv, -127.0f, 127.0f)));
      ASSERT_EQ(int(f.hq[i]), want) << "row " << n << " col " << k;
      ASSERT_LE(std::fabs(float(f.hq[i]) * f.hscale[size_t(n)] - f.w[i]), 0.5005f * f.hscale[size_t(n)] + 1e-12f);
    }
  }
  EXPECT_EQ(f.hscale[3], 0.0f);  // the zero row
}

TEST(CudaW8, EmbeddingAndDequantizeGiveTheScaledCodes) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const W8Fixture f(50, 256, 2, s);
  const std::vector<int32_t> ids = {7, 0, 49, 3, 7, 21};
  const int64_t T = int64_t(ids.size());
  auto dids = upload_vec(ids, s);
  DeviceTensor out(size_t(T * f.K), DType::F32, s);
  cuda::w8_embedding(f.weight(), dids.as<int32_t>(), T, DType::F32, out.data(), s.get());
  const std::vector<float> got = out.download(s), deq = f.dequantized();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < f.K; ++k)
      ASSERT_EQ(got[size_t(t * f.K + k)], deq[size_t(ids[size_t(t)] * f.K + k)]) << "token " << t;
  const int64_t row0 = 5, n = 11;
  DeviceTensor rows(size_t(n * f.K), DType::F16, s);
  cuda::w8_dequantize(f.weight(), row0, n, rows.data(), s.get());
  const std::vector<float> r = rows.download(s);
  for (int64_t i = 0; i < n * f.K; ++i)
    ASSERT_EQ(r[size_t(i)], f16_to_f32(f32_to_f16(deq[size_t(row0 * f.K + i)]))) << i;
}

// 1-16 rows; K = 528 leaves a partial last group of loads, 2048 is the 1B model's width.
TEST(CudaW8, GemvMatchesReferenceOnTheDequantizedWeights) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const int64_t N = 77;
  for (const int64_t K : {528, 2048}) {
    const W8Fixture f(N, K, 3, s);
    std::vector<float> deq = f.dequantized();
    for (const int64_t M : {1, 2, 3, 4, 5, 8, 11, 16}) {
      auto x = rounded(randn(size_t(M * K), 4), DType::F16);
      std::vector<float> ref(size_t(M * N));
      ops::matmul_ref(view(x, {M, K}), view(deq, {N, K}), view(ref, {M, N}));
      DeviceTensor dx(x, DType::F16, s), y(size_t(M * N), DType::F32, s);
      ASSERT_TRUE(cuda::w8_gemv_fits(M, K));
      cuda::w8_gemv(dx.data(), M, f.weight(), y.buf.as<float>(), s.get());
      EXPECT_LT(rel_err(y.download(s), ref), 1e-5) << "M=" << M << " K=" << K;
    }
  }
  EXPECT_FALSE(cuda::w8_gemv_fits(cuda::kW8GemvMaxRows + 1, 512));
  EXPECT_FALSE(cuda::w8_gemv_fits(1, 520));
}

TEST(CudaW8, SelectedRowsAndPairs) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const int64_t M = 6, K = 200, N = 500;
  const W8Fixture f(N, K, 5, s);
  std::vector<float> deq = f.dequantized();
  auto x = rounded(randn(size_t(M * K), 6), DType::F16);
  std::mt19937 rng(7);
  std::vector<int32_t> rows(37);
  for (auto& r : rows) r = int32_t(rng() % uint32_t(N));
  const int64_t R = int64_t(rows.size());
  std::vector<float> ref(size_t(M * R));
  ops::matmul_ref(view(x, {M, K}), view(deq, {N, K}), view(ref, {M, R}), rows);
  DeviceTensor dx(x, DType::F16, s), y(size_t(M * R), DType::F32, s);
  auto drows = upload_vec(rows, s);
  cuda::w8_matmul_rows(dx.data(), M, f.weight(), drows.as<int32_t>(), R, y.buf.as<float>(), s.get());
  const std::vector<float> got = y.download(s);
  EXPECT_LT(rel_err(got, ref), 1e-5);
  // Pairs: activation row i % M with selected row i: bitwise the matmul_rows value.
  std::vector<int32_t> xrows(static_cast<size_t>(R));
  for (int64_t i = 0; i < R; ++i) xrows[size_t(i)] = int32_t(i % M);
  auto dx_rows = upload_vec(xrows, s);
  DeviceTensor yp(size_t(R), DType::F32, s);
  cuda::w8_matmul_pairs(dx.data(), f.weight(), dx_rows.as<int32_t>(), drows.as<int32_t>(), R, yp.buf.as<float>(),
                        s.get());
  const std::vector<float> pairs = yp.download(s);
  for (int64_t i = 0; i < R; ++i) EXPECT_EQ(pairs[size_t(i)], got[size_t((i % M) * R + i)]) << i;
}

}  // namespace
}  // namespace si
