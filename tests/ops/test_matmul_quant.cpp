#include <gtest/gtest.h>

#include <cmath>

#include "ops/cpu/quants.h"
#include "ops/matmul.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::randn;
using test::view;

// The quantized path: activations quantized once per row, then the quant kernels' dot products.
// Checked against (a) the same arithmetic spelled out with quantize_act + vec_dot_ref (tight), and
// (b) the fp32 reference on the dequantized weights (loose: activation rounding).
TEST(MatmulQuant, MatchesVecDotRefAndFp32Reference) {
  ThreadPool pool(2);
  const int64_t K = 512, N = 37;
  for (DType dt : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    auto wf = randn(size_t(N * K), 2, 0.05f);
    const size_t rb = dtype_row_bytes(dt, uint64_t(K));
    std::vector<uint8_t> wq(rb * size_t(N));
    for (int64_t n = 0; n < N; ++n) cpu::quantize_row(dt, wf.data() + n * K, wq.data() + size_t(n) * rb, K);
    TensorView w{wq.data(), dt, {N, K}};
    for (int64_t M : {1, 5, 20}) {
      auto x = randn(size_t(M * K), uint32_t(M));
      std::vector<float> ref(size_t(M * N)), exact(size_t(M * N));
      ops::matmul_ref(view(x, {M, K}), w, view(ref, {M, N}));
      const DType at = cpu::vec_dot_type(dt);
      std::vector<uint8_t> act(dtype_row_bytes(at, uint64_t(K)));
      for (int64_t m = 0; m < M; ++m) {
        cpu::quantize_act(at, x.data() + m * K, act.data(), K);
        for (int64_t n = 0; n < N; ++n)
          cpu::vec_dot_ref(dt, K, wq.data() + size_t(n) * rb, act.data(), &exact[size_t(m * N + n)]);
      }
      for (cpu::Isa isa : test::supported_isas()) {
        cpu::IsaOverride force(isa);
        std::vector<float> y(size_t(M * N));
        ops::matmul(view(x, {M, K}), w, view(y, {M, N}), pool);
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_NEAR(y[i], exact[i], 1e-4f * (1 + std::fabs(exact[i]))) << dtype_name(dt) << " " << cpu::isa_name(isa);
          ASSERT_NEAR(y[i], ref[i], 0.06f) << dtype_name(dt) << " M=" << M;  // std(y) ~ 1.1; 8-bit activations
        }
        const std::vector<int32_t> rows = {36, 2, 2};
        std::vector<float> ys(size_t(M) * 3);
        ops::matmul(view(x, {M, K}), w, view(ys, {M, 3}), pool, rows);
        for (int64_t m = 0; m < M; ++m)
          for (size_t j = 0; j < 3; ++j) ASSERT_NEAR(ys[size_t(m) * 3 + j], y[size_t(m * N + rows[j])], 1e-5f);
      }
    }
  }
}

}  // namespace
}  // namespace si
