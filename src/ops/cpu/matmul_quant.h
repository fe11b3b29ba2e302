// ops/cpu/matmul_quant.h — the quantized-weight path of ops::matmul, on top of the quant kernels
// (ops/cpu/quants.h: quantize_row / dequantize_row / vec_dot_type / vec_dot).
//
// Each activation row is quantized once to the weight type's vec_dot type (Q8_0 for Q4_0/Q8_0,
// Q8_K for the K-quants, as llama.cpp does); the weight rows are then walked in tiles so that a tile
// of weight rows stays in cache while every activation row of a prefill batch passes over it.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace si::cpu {

// y (M, N) = x (M, K) w^T for a quantized w (N_w, K); rows (N) selects weight rows or is null.
void matmul_quant(const float* x, int64_t M, int64_t K, const TensorView& w, const int32_t* rows, float* y,
                  int64_t N, ThreadPool& pool);

// One row of any quantized type to fp32.
void dequantize_row_any(DType t, const void* row, float* out, int64_t n);

}  // namespace si::cpu
