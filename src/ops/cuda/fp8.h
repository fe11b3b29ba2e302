// ops/cuda/fp8.h — FP8 (e4m3) rows for the matmuls of large prefill passes: activations and weights
// quantized per row (a token's activations, a weight's output channel) with one fp32 scale each,
// multiplied on the tensor cores by cuBLASLt with outer-vector scaling (Blas::matmul_fp8, matmul.h).
// Hopper runs e4m3 at twice the FP16 rate; a batch-256 prefill spends ~3/4 of its time in matmuls.
//
//   si::cuda::fp8_quantize_rows(DType::F16, x, M, K, q, scale, s);      // q (M, K) e4m3, scale (M)
//   si::cuda::rms_norm_fp8(x, w, eps, q, scale, T, C, s);                // RMSNorm's output, quantized
//   si::cuda::swiglu_fp8(DType::F16, gate, up, ld, q, scale, T, F, s);   // SwiGLU's output, quantized
//   blas.matmul_fp8(q, scale, M, K, wq, wscale, N, DType::F32, y, true, false, s);   // y += x W^T
//
// Each row r of values v (fp32 after the op) is stored as q[r][k] = e4m3(v[r][k] * (448 / amax_r)),
// rounded to nearest even and saturated to +-448, with scale[r] = amax_r / 448, where amax_r =
// max_k |v[r][k]| (an all-zero row: scale 1, q 0). The row's largest magnitude maps to e4m3's
// largest finite value; values come back as q * scale (relative rounding error <= 2^-4 for
// normals). Rows are 16-byte aligned: K, C, F multiples of 16, inputs 16-byte aligned (checked).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace si::cuda {

constexpr float kFp8Max = 448.0f;  // largest finite e4m3 value

// A matrix of e4m3 rows with one fp32 scale per row, on the device.
struct Fp8Rows {
  const void* q = nullptr;       // (rows, K) e4m3 bytes
  const float* scale = nullptr;  // (rows)
};

// q (M, K), scale (M) from x (M, K) of type t (F32, F16 or BF16).
void fp8_quantize_rows(DType t, const void* x, int64_t M, int64_t K, void* q, float* scale, cudaStream_t s);

// RMSNorm of the f32 rows x (T, C) with weight w (C), v = w * (x * rstd) as rms_norm computes it,
// quantized per row into q (T, C), scale (T).
void rms_norm_fp8(const float* x, const float* w, float eps, void* q, float* scale, int64_t T, int64_t C,
                  cudaStream_t s);

// SwiGLU v = silu(gate) * up of (T, F) gate and up rows with row stride ld_in (type t, F16 or BF16,
// as swiglu()), quantized per row into q (T, F), scale (T).
void swiglu_fp8(DType t, const void* gate, const void* up, int64_t ld_in, void* q, float* scale, int64_t T, int64_t F,
                cudaStream_t s);

}  // namespace si::cuda
