// The one-row GEMV's fused SwiGLU output (gemv_swiglu_out) against the gate|up GEMV into fp16
// followed by swiglu(): bitwise, for 1-4 rows, at the 1B model's shape (K 2048, F 8192) and at
// sizes with a partial last group of loads and a partial last block. Skips without a CUDA device.
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

TEST(CudaGemv, SwigluOutputIsBitwiseGemvThenSwiglu) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  struct Shape {
    int64_t K, F;
  };
  for (const Shape sh : {Shape{2048, 8192}, Shape{520, 77}, Shape{4104, 30}})
    for (const DType t : {DType::F16, DType::BF16})
      for (const int64_t M : {1, 2, 4}) {
        const int64_t K = sh.K, F = sh.F;
        const auto x = rounded(randn(size_t(M * K), 1, 1.0f), t);
        const auto w = rounded(randn(size_t(2 * F * K), 2, 0.05f), t);
        DeviceTensor dx(x, t, s), dw(w, t, s), h(size_t(M * F), t, s), gu(size_t(M * 2 * F), t, s),
            ref(size_t(M * F), t, s);
        ASSERT_TRUE(cuda::gemv_fits(t, M, K));
        cuda::gemv_swiglu_out(t, dx.data(), M, K, dw.data(), F, h.data(), s.get());
        cuda::gemv(t, dx.data(), M, K, dw.data(), 2 * F, t, gu.data(), false, s.get());
        const auto* g = static_cast<const uint16_t*>(gu.data());
        cuda::swiglu(t, g, g + F, 2 * F, ref.data(), M, F, s.get());
        const auto got = h.download(s), want = ref.download(s);
        ASSERT_EQ(got.size(), want.size());
        size_t differ = 0;
        for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
        EXPECT_EQ(differ, 0u) << dtype_name(t) << " M=" << M << " K=" << K << " F=" << F;
      }
}

}  // namespace
}  // namespace si
