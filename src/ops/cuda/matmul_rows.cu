// ops/cuda/matmul_rows.cu — logits of selected vocabulary rows: one warp per selected weight row,
// fp32 dot products with every activation row (M is small: the batch of the decode step); and the
// same for (activation row, weight row) pairs, each sequence of a step with its own allowed rows.
// The same kernels serve int8 weight rows with per-row scales (w8.h's w8_matmul_rows/_pairs).
#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/matmul.h"
#include "ops/cuda/w8.h"

namespace si::cuda {
namespace {

constexpr int kRowsPerPass = 4;  // activation rows per sweep over the weight row

// Tx: the activations' storage; Tw: the weights' (the same, or int8 with one fp32 scale per weight
// row in `scale`, applied to the warp's sum; null for 16/32-bit weights).
template <typename Tx, typename Tw>
__global__ void matmul_rows_kernel(const Tx* x, int64_t M, int64_t K, const Tw* w, const float* scale,
                                   const int32_t* rows, int64_t R, float* y) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = int(threadIdx.x) & 31;
  if (r >= R) return;
  const Tw* wr = w + int64_t(rows[r]) * K;
  for (int64_t m0 = 0; m0 < M; m0 += kRowsPerPass) {
    float acc[kRowsPerPass] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t k = lane; k < K; k += 32) {
      const float wv = to_f32(wr[k]);
#pragma unroll
      for (int i = 0; i < kRowsPerPass; ++i)
        if (m0 + i < M) acc[i] += wv * to_f32(x[(m0 + i) * K + k]);
    }
#pragma unroll
    for (int i = 0; i < kRowsPerPass; ++i) {
      const float v = warp_sum(acc[i]);
      if (lane == 0 && m0 + i < M) y[(m0 + i) * R + r] = scale ? v * scale[rows[r]] : v;
    }
  }
}

// One warp per pair: y[i] = x[xrows[i]] . w[rows[i]], with exactly matmul_rows_kernel's
// arithmetic for one activation row (lane-strided fp32 products, then warp_sum, then the scale),
// so a logit does not depend on which call computed it.
template <typename Tx, typename Tw>
__global__ void matmul_pairs_kernel(const Tx* x, int64_t K, const Tw* w, const float* scale, const int32_t* xrows,
                                    const int32_t* rows, int64_t R, float* y) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = int(threadIdx.x) & 31;
  if (r >= R) return;
  const Tw* wr = w + int64_t(rows[r]) * K;
  const Tx* xr = x + int64_t(xrows[r]) * K;
  float acc = 0.0f;
  for (int64_t k = lane; k < K; k += 32) {
    const float wv = to_f32(wr[k]);
    acc += wv * to_f32(xr[k]);
  }
  const float v = warp_sum(acc);
  if (lane == 0) y[r] = scale ? v * scale[rows[r]] : v;
}

}  // namespace

void matmul_pairs(DType t, const void* x, int64_t K, const void* w, const int32_t* xrows, const int32_t* rows,
                  int64_t R, float* y, cudaStream_t s) {
  if (R == 0) return;
  dispatch_float_type(t, "matmul_pairs", [&](auto tag) {
    using E = decltype(tag);
    matmul_pairs_kernel<E, E><<<blocks_for(R, 8), 256, 0, s>>>(static_cast<const E*>(x), K, static_cast<const E*>(w),
                                                                nullptr, xrows, rows, R, y);
  });
  SI_CUDA_LAUNCHED("matmul_pairs_kernel");
}

void matmul_rows(DType t, const void* x, int64_t M, int64_t K, const void* w, const int32_t* rows, int64_t R, float* y,
                 cudaStream_t s) {
  if (M == 0 || R == 0) return;
  dispatch_float_type(t, "matmul_rows", [&](auto tag) {
    using E = decltype(tag);
    matmul_rows_kernel<E, E><<<blocks_for(R, 8), 256, 0, s>>>(static_cast<const E*>(x), M, K, static_cast<const E*>(w),
                                                               nullptr, rows, R, y);
  });
  SI_CUDA_LAUNCHED("matmul_rows_kernel");
}

void w8_matmul_rows(const void* x, int64_t M, const W8Weight& w, const int32_t* rows, int64_t R, float* y,
                    cudaStream_t s) {
  if (M == 0 || R == 0) return;
  matmul_rows_kernel<__half, int8_t><<<blocks_for(R, 8), 256, 0, s>>>(static_cast<const __half*>(x), M, w.K, w.q,
                                                                       w.scale, rows, R, y);
  SI_CUDA_LAUNCHED("matmul_rows_kernel (int8)");
}

void w8_matmul_pairs(const void* x, const W8Weight& w, const int32_t* xrows, const int32_t* rows, int64_t R, float* y,
                     cudaStream_t s) {
  if (R == 0) return;
  matmul_pairs_kernel<__half, int8_t><<<blocks_for(R, 8), 256, 0, s>>>(static_cast<const __half*>(x), w.K, w.q,
                                                                        w.scale, xrows, rows, R, y);
  SI_CUDA_LAUNCHED("matmul_pairs_kernel (int8)");
}

}  // namespace si::cuda
