#include "ops/matmul.h"

#include <cstring>
#include <vector>

#include "core/half.h"
#include "ops/check.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/matmul_quant.h"

namespace si::ops {
namespace {

void validate(const TensorView& x, const TensorView& w, const TensorView& y, std::span<const int32_t> rows) {
  expect_f32(x, "matmul", "x");
  expect_f32(y, "matmul", "y");
  expect_ndim(w, 2, "matmul", "weight");
  SI_CHECK(x.ndim() >= 1 && y.ndim() >= 1, "matmul: x and y need at least one dimension");
  const int64_t K = w.dim(1), N = rows.empty() ? w.dim(0) : int64_t(rows.size());
  SI_CHECK(x.cols() == K, "matmul: x has {} columns but the weight {} expects {}", x.cols(), shape_str(w.shape), K);
  SI_CHECK(y.cols() == N, "matmul: y has {} columns, expected {}", y.cols(), N);
  SI_CHECK(y.rows() == x.rows(), "matmul: y has {} rows but x has {}", y.rows(), x.rows());
  SI_CHECK(K % dtype_block_size(w.dtype) == 0, "matmul: weight row length {} not a multiple of the {} block size {}",
           K, dtype_name(w.dtype), dtype_block_size(w.dtype));
  for (size_t i = 0; i < rows.size(); ++i)
    SI_CHECK(rows[i] >= 0 && rows[i] < w.dim(0), "matmul: selected row {} (index {}) outside the weight's {} rows",
             rows[i], i, w.dim(0));
}

int weight_kind(DType t) {
  switch (t) {
    case DType::F32: return int(cpu::WeightKind::F32);
    case DType::F16: return int(cpu::WeightKind::F16);
    case DType::BF16: return int(cpu::WeightKind::BF16);
    default: return -1;
  }
}

}  // namespace

void weight_row_f32(const TensorView& w, int64_t r, float* out) {
  const int64_t K = w.cols();
  const auto* p = static_cast<const uint8_t*>(w.row(r));
  switch (w.dtype) {
    case DType::F32: std::memcpy(out, p, size_t(K) * 4); return;
    case DType::F16:
      for (int64_t k = 0; k < K; ++k) { uint16_t h; std::memcpy(&h, p + 2 * k, 2); out[k] = f16_to_f32(h); }
      return;
    case DType::BF16:
      for (int64_t k = 0; k < K; ++k) { uint16_t h; std::memcpy(&h, p + 2 * k, 2); out[k] = bf16_to_f32(h); }
      return;
    default:
      cpu::dequantize_row_any(w.dtype, p, out, K);
  }
}

void matmul(const TensorView& x, const TensorView& w, const TensorView& y, ThreadPool& pool,
            std::span<const int32_t> rows) {
  validate(x, w, y, rows);
  const int64_t M = x.rows(), K = x.cols(), N = y.cols();
  if (M == 0 || N == 0) return;
  const int kind = weight_kind(w.dtype);
  if (kind < 0) {
    cpu::matmul_quant(x.as<float>(), M, K, w, rows.empty() ? nullptr : rows.data(), y.as<float>(), N, pool);
    return;
  }
  cpu::GemmArgs a;
  a.x = x.as<float>();
  a.ldx = K;
  a.M = M;
  a.w = static_cast<const uint8_t*>(w.data);
  a.w_row_bytes = w.row_bytes();
  a.rows = rows.empty() ? nullptr : rows.data();
  a.K = K;
  a.y = y.as<float>();
  a.ldy = N;
  const cpu::GemmFn fn = cpu::kernels(cpu::isa_active()).gemm[kind];
  // Split over weight rows in multiples of 8 (the decode tile), so both threads stream their own rows.
  pool.parallel_for(N, [&](int64_t b, int64_t e, int) { fn(a, b, e); }, 8);
}

void matmul_ref(const TensorView& x, const TensorView& w, const TensorView& y, std::span<const int32_t> rows) {
  validate(x, w, y, rows);
  const int64_t M = x.rows(), K = x.cols(), N = y.cols();
  std::vector<float> wr(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    weight_row_f32(w, rows.empty() ? n : rows[size_t(n)], wr.data());
    for (int64_t m = 0; m < M; ++m) {
      const float* xr = x.as<float>() + m * K;
      float s = 0.0f;
      for (int64_t k = 0; k < K; ++k) s += xr[k] * wr[size_t(k)];
      y.as<float>()[m * N + n] = s;
    }
  }
}

}  // namespace si::ops
