// ops/matmul.h — y = x W^T for weights in any stored type (the Linear layers and the LM head).
//
//   si::ops::matmul(x, w, y, pool);                 // x (M, K) f32, w (N, K) any dtype, y (M, N) f32
//   si::ops::matmul(x, w, y, pool, rows);           // y (M, rows.size()): only weight rows `rows`
//   si::ops::matmul_ref(x, w, y);                   // plain loops, fp32, the reference
//
// F32/F16/BF16 weights use our SIMD kernels with fp32 activations (no activation rounding).
// Quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) use the quant kernels of ops/cpu/quants.h: each
// activation row is quantized once to the weight's vec_dot type, then integer dot products run
// over the weight rows. Work is split over weight rows (N) across the pool's threads.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace si::ops {

void matmul(const TensorView& x, const TensorView& w, const TensorView& y, ThreadPool& pool,
            std::span<const int32_t> rows = {});
void matmul_ref(const TensorView& x, const TensorView& w, const TensorView& y,
                std::span<const int32_t> rows = {});

// Row r of a weight tensor as fp32 (any dtype), for embedding lookups and references.
void weight_row_f32(const TensorView& w, int64_t r, float* out);

}  // namespace si::ops
