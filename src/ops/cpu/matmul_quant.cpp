#include "ops/cpu/matmul_quant.h"

#include <vector>

#include "core/error.h"
#include "ops/cpu/quants.h"

namespace si::cpu {
namespace {

// Weight rows per prefill tile: 16 rows of a 2048-wide Q4_K matrix are ~18 KiB, in L1 with the
// activation blocks streaming past.
constexpr int64_t kTileRows = 16;

}  // namespace

void matmul_quant(const float* x, int64_t M, int64_t K, const TensorView& w, const int32_t* rows, float* y,
                  int64_t N, ThreadPool& pool) {
  const DType wt = w.dtype;
  const DType at = vec_dot_type(wt);
  const size_t act_rb = dtype_row_bytes(at, uint64_t(K));
  const size_t w_rb = w.row_bytes();
  const auto* wp = static_cast<const uint8_t*>(w.data);
  // Activations quantized once per row (as llama.cpp does), reused by every weight row.
  thread_local std::vector<uint8_t> act;
  if (act.size() < act_rb * size_t(M)) act.resize(act_rb * size_t(M));
  uint8_t* ap = act.data();
  pool.parallel_for(M, [&](int64_t b, int64_t e, int) {
    for (int64_t m = b; m < e; ++m) quantize_act(at, x + m * K, ap + size_t(m) * act_rb, K);
  });
  if (rows) {  // selected rows (constrained decoding): scattered, one dot per (row, activation)
    pool.parallel_for(N, [&](int64_t b, int64_t e, int) {
      for (int64_t n = b; n < e; ++n)
        for (int64_t m = 0; m < M; ++m)
          vec_dot(wt, K, wp + size_t(rows[n]) * w_rb, ap + size_t(m) * act_rb, y + m * N + n);
    });
    return;
  }
  if (M == 1) {
    pool.parallel_for(N, [&](int64_t b, int64_t e, int) {
      vec_dot_rows(wt, K, wp + size_t(b) * w_rb, w_rb, e - b, ap, y + b);
    }, kTileRows);
    return;
  }
  pool.parallel_for(N, [&](int64_t b, int64_t e, int) {
    for (int64_t n = b; n < e; n += kTileRows) {
      const int64_t nr = e - n < kTileRows ? e - n : kTileRows;
      vec_dot_tile(wt, K, wp + size_t(n) * w_rb, w_rb, nr, ap, act_rb, M, y + n, N);
    }
  }, kTileRows);
}

void dequantize_row_any(DType t, const void* row, float* out, int64_t n) { dequantize_row(t, row, out, n); }

}  // namespace si::cpu
