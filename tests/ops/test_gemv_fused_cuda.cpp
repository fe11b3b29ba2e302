// The one-row GEMVs with the op before them inside (ops/cuda/gemv_fused.cu) against that op followed
// by cuda::gemv: bitwise, for the norm at the 1B model's width (2048: the norm kernel's 256-thread
// partial sums) and for SwiGLU at 8192 (down_proj) and at a width with a partial last group of
// loads, into F16 and (accumulating) F32 outputs. Skips without a CUDA device.
#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/matmul.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::DeviceTensor;
using test::randn;
using test::rounded;

constexpr int64_t kN = 77;

void expect_bitwise(const DeviceTensor& y16, const DeviceTensor& y32, const DeviceTensor& r16, const DeviceTensor& r32,
                    const cuda::Stream& s, const char* what) {
  EXPECT_EQ(y16.download(s), r16.download(s)) << what << " (F16 out)";
  EXPECT_EQ(y32.download(s), r32.download(s)) << what << " (F32 out, accumulating)";
}

TEST(CudaGemvFused, RmsNormInsideIsBitwiseNormThenGemv) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  const int64_t K = 2048;
  const auto x = randn(size_t(K), 1, 3.0f), nw = randn(size_t(K), 2, 0.3f);
  const auto w = rounded(randn(size_t(kN * K), 3, 0.05f), DType::F16), y0 = randn(size_t(kN), 4);
  DeviceTensor dx(x, DType::F32, s), dnw(nw, DType::F32, s), dw(w, DType::F16, s), xn(size_t(K), DType::F16, s);
  DeviceTensor y16(size_t(kN), DType::F16, s), r16(size_t(kN), DType::F16, s);
  DeviceTensor y32(y0, DType::F32, s), r32(y0, DType::F32, s);
  ASSERT_TRUE(cuda::gemv_fused_fits(K));
  const auto* xp = static_cast<const float*>(dx.data());
  const auto* np = static_cast<const float*>(dnw.data());
  cuda::gemv_rms_norm(xp, np, 1e-5f, K, dw.data(), kN, DType::F16, y16.data(), false, s.get());
  cuda::gemv_rms_norm(xp, np, 1e-5f, K, dw.data(), kN, DType::F32, y32.data(), true, s.get());
  cuda::rms_norm(DType::F32, xp, np, 1e-5f, DType::F16, xn.data(), 1, K, s.get());
  cuda::gemv(DType::F16, xn.data(), 1, K, dw.data(), kN, DType::F16, r16.data(), false, s.get());
  cuda::gemv(DType::F16, xn.data(), 1, K, dw.data(), kN, DType::F32, r32.data(), true, s.get());
  expect_bitwise(y16, y32, r16, r32, s, "rms_norm");
}

TEST(CudaGemvFused, SwigluInsideIsBitwiseSwigluThenGemv) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  for (const int64_t K : {int64_t(8192), int64_t(520)}) {
    const auto gu = rounded(randn(size_t(2 * K), 5, 2.0f), DType::F16);
    const auto w = rounded(randn(size_t(kN * K), 6, 0.05f), DType::F16), y0 = randn(size_t(kN), 7);
    DeviceTensor dgu(gu, DType::F16, s), dw(w, DType::F16, s), h(size_t(K), DType::F16, s);
    DeviceTensor y16(size_t(kN), DType::F16, s), r16(size_t(kN), DType::F16, s);
    DeviceTensor y32(y0, DType::F32, s), r32(y0, DType::F32, s);
    ASSERT_TRUE(cuda::gemv_fused_fits(K));
    cuda::gemv_swiglu(dgu.data(), K, dw.data(), kN, DType::F16, y16.data(), false, s.get());
    cuda::gemv_swiglu(dgu.data(), K, dw.data(), kN, DType::F32, y32.data(), true, s.get());
    const auto* g = static_cast<const uint16_t*>(dgu.data());
    cuda::swiglu(DType::F16, g, g + K, 2 * K, h.data(), 1, K, s.get());
    cuda::gemv(DType::F16, h.data(), 1, K, dw.data(), kN, DType::F16, r16.data(), false, s.get());
    cuda::gemv(DType::F16, h.data(), 1, K, dw.data(), kN, DType::F32, r32.data(), true, s.get());
    expect_bitwise(y16, y32, r16, r32, s, K == 8192 ? "swiglu 8192" : "swiglu 520");
  }
  EXPECT_FALSE(cuda::gemv_fused_fits(8200));
  EXPECT_FALSE(cuda::gemv_fused_fits(516));
}

}  // namespace
}  // namespace si
