// ops/cuda/w8.h — an (N, K) matrix in int8 with one fp32 scale per row (symmetric: W[n][k] =
// q[n][k] * scale[n], |q| <= 127), for the tied embedding / LM head of a 4-bit model: 128256 x 2048
// is 525 MB in FP16, as much as all the 4-bit Linears of Llama-3.2-1B; in 8 bits it is half that,
// and a greedy decode step reads half the head bytes.
//
//   si::cuda::W8Weight w{V, C, q, scale};                           // q (V*C) int8, scale (V) f32 on the device
//   si::cuda::w8_quantize(DType::F16, table_f16, V, C, q, scale, s);  // from FP16/BF16/F32 rows
//   si::cuda::w8_embedding(w, ids, T, DType::F32, x, s);            // x (T, C) = rows ids, dequantized
//   if (si::cuda::w8_gemv_fits(M, C)) si::cuda::w8_gemv(h16, M, w, logits, s);   // (M, V) f32, M <= 16
//   si::cuda::w8_dequantize(w, row0, n, f16_rows, s);               // rows for cuBLAS (larger M)
//   si::cuda::w8_matmul_rows(h16, M, w, rows, R, y, s);             // selected rows (constrained decoding)
//   si::cuda::w8_matmul_pairs(h16, w, xrows, rows, R, y, s);        // (activation row, weight row) pairs
//
// Activations x are fp16 (M, K); products accumulate in fp32 on the integer weights and take the
// row's scale once at the end. All pointers are device pointers; every op is one launch on `s`.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace si::cuda {

struct W8Weight {
  int64_t N = 0, K = 0;
  const int8_t* q = nullptr;    // (N, K), 16-byte aligned
  const float* scale = nullptr;  // (N)
  size_t bytes() const { return size_t(N * K) + size_t(N) * 4; }
};

// q (N, K), scale (N) from src (N, K) of src_t (F32, F16 or BF16): scale = max|row| / 127, q the
// nearest integer to w / scale (an all-zero row gets scale 0 and q 0).
void w8_quantize(DType src_t, const void* src, int64_t N, int64_t K, int8_t* q, float* scale, cudaStream_t s);

// out (n, K) fp16 = rows [row0, row0 + n) of w, dequantized.
void w8_dequantize(const W8Weight& w, int64_t row0, int64_t n, void* out, cudaStream_t s);

// out (T, K) = w rows ids[t] (device ids, checked by the caller), dequantized, as out_t (F32/F16).
void w8_embedding(const W8Weight& w, const int32_t* ids, int64_t T, DType out_t, void* out, cudaStream_t s);

// y (M, N) f32 = x (M, K) fp16 W^T for M <= kW8GemvMaxRows: the weight-streaming GEMV of gemv.cu
// with int8 weights (one warp per weight row, 16 weights per 16-byte load). K a multiple of 16,
// x 16-byte aligned. Launched with PDL (its weight loads start while the kernel before finishes).
constexpr int kW8GemvMaxRows = 16;
bool w8_gemv_fits(int64_t M, int64_t K);
void w8_gemv(const void* x, int64_t M, const W8Weight& w, float* y, cudaStream_t s);

// y (M, R) f32 = x (M, K) W[rows]^T (as matmul_rows in matmul.h, int8 weights).
void w8_matmul_rows(const void* x, int64_t M, const W8Weight& w, const int32_t* rows, int64_t R, float* y,
                    cudaStream_t s);
// y[i] = x[xrows[i]] . W[rows[i]] (as matmul_pairs); bitwise what w8_matmul_rows gives for the pair.
void w8_matmul_pairs(const void* x, const W8Weight& w, const int32_t* xrows, const int32_t* rows, int64_t R, float* y,
                     cudaStream_t s);

}  // namespace si::cuda
