#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/matmul.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::max_abs_diff;
using test::randn;
using test::view;

// Weights of `dtype` (N, K) made from fp32 values; returns the stored bytes.
std::vector<uint8_t> make_weight(const std::vector<float>& w, DType dtype) {
  const size_t n = w.size();
  std::vector<uint8_t> out(dtype == DType::F32 ? 4 * n : 2 * n);
  for (size_t i = 0; i < n; ++i) {
    if (dtype == DType::F32) std::memcpy(&out[4 * i], &w[i], 4);
    else {
      const uint16_t h = dtype == DType::F16 ? f32_to_f16(w[i]) : f32_to_bf16(w[i]);
      std::memcpy(&out[2 * i], &h, 2);
    }
  }
  return out;
}

struct Case { int64_t M, N, K; };

TEST(Matmul, FastPathsMatchReferenceForEveryIsaAndDtype) {
  ThreadPool pool(2);
  // Shapes with K tails (not a multiple of 8/16), M tails (decode, tile remainders), odd N.
  const Case cases[] = {{1, 37, 64}, {1, 9, 67}, {5, 13, 48}, {7, 33, 131}, {16, 64, 256}, {3, 1, 5}};
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (const Case& c : cases) {
      auto x = randn(size_t(c.M * c.K), 1);
      auto wf = randn(size_t(c.N * c.K), 2, 0.1f);
      auto wb = make_weight(wf, dt);
      TensorView w{wb.data(), dt, {c.N, c.K}};
      std::vector<float> ref(static_cast<size_t>(c.M * c.N));
      ops::matmul_ref(view(x, {c.M, c.K}), w, view(ref, {c.M, c.N}));
      // The reference against an independent double-precision sum over the stored weights.
      std::vector<float> wrow(static_cast<size_t>(c.K));
      for (int64_t n = 0; n < c.N; ++n) {
        ops::weight_row_f32(w, n, wrow.data());
        double s = 0;
        for (int64_t k = 0; k < c.K; ++k) s += double(x[size_t(k)]) * wrow[size_t(k)];
        ASSERT_NEAR(ref[size_t(n)], s, 1e-4) << dtype_name(dt);
      }
      for (cpu::Isa isa : test::supported_isas()) {
        cpu::IsaOverride force(isa);
        std::vector<float> y(size_t(c.M * c.N), -1.0f);
        ops::matmul(view(x, {c.M, c.K}), w, view(y, {c.M, c.N}), pool);
        EXPECT_LT(max_abs_diff(y, ref), 1e-4f) << dtype_name(dt) << " " << cpu::isa_name(isa) << " M=" << c.M
                                              << " N=" << c.N << " K=" << c.K;
      }
    }
  }
}

TEST(Matmul, SelectedRowsEqualThoseColumnsOfTheFullProduct) {
  ThreadPool pool(2);
  const int64_t M = 3, N = 40, K = 96;
  auto x = randn(size_t(M * K), 3);
  auto wf = randn(size_t(N * K), 4);
  TensorView w{wf.data(), DType::F32, {N, K}};
  std::vector<float> full(static_cast<size_t>(M * N));
  ops::matmul(view(x, {M, K}), w, view(full, {M, N}), pool);
  const std::vector<int32_t> rows = {39, 0, 17, 17, 5};
  std::vector<float> sel(size_t(M) * rows.size());
  for (cpu::Isa isa : test::supported_isas()) {
    cpu::IsaOverride force(isa);
    ops::matmul(view(x, {M, K}), w, view(sel, {M, int64_t(rows.size())}), pool, rows);
    for (int64_t m = 0; m < M; ++m)
      for (size_t j = 0; j < rows.size(); ++j)
        EXPECT_NEAR(sel[size_t(m) * rows.size() + j], full[size_t(m * N + rows[j])], 1e-5f);
  }
}

TEST(Matmul, ShapeErrorsNameTheSizes) {
  ThreadPool pool(1);
  std::vector<float> x(6), w(12), y(8);
  try {
    ops::matmul(view(x, {2, 3}), view(w, {3, 4}), view(y, {2, 4}), pool);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x has 3 columns"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("expects 4"), std::string::npos) << e.what();
  }
  const std::vector<int32_t> bad = {0, 4};
  std::vector<float> y2(4);
  EXPECT_THROW(ops::matmul(view(x, {2, 3}), view(w, {4, 3}), view(y2, {2, 2}), pool, bad), Error);
}

}  // namespace
}  // namespace si
