// ops/cuda/matmul_rows.cu — logits of selected vocabulary rows: one warp per selected weight row,
// fp32 dot products with every activation row (M is small: the batch of the decode step); and the
// same for (activation row, weight row) pairs, each sequence of a step with its own allowed rows.
#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/matmul.h"

namespace si::cuda {
namespace {

constexpr int kRowsPerPass = 4;  // activation rows per sweep over the weight row

template <typename T>
__global__ void matmul_rows_kernel(const T* x, int64_t M, int64_t K, const T* w, const int32_t* rows, int64_t R,
                                   float* y) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = int(threadIdx.x) & 31;
  if (r >= R) return;
  const T* wr = w + int64_t(rows[r]) * K;
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
      if (lane == 0 && m0 + i < M) y[(m0 + i) * R + r] = v;
    }
  }
}

// One warp per pair: y[i] = x[xrows[i]] . w[rows[i]], with exactly matmul_rows_kernel's
// arithmetic for one activation row (lane-strided fp32 products, then warp_sum), so a logit does
// not depend on which call computed it.
template <typename T>
__global__ void matmul_pairs_kernel(const T* x, int64_t K, const T* w, const int32_t* xrows, const int32_t* rows,
                                    int64_t R, float* y) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = int(threadIdx.x) & 31;
  if (r >= R) return;
  const T* wr = w + int64_t(rows[r]) * K;
  const T* xr = x + int64_t(xrows[r]) * K;
  float acc = 0.0f;
  for (int64_t k = lane; k < K; k += 32) {
    const float wv = to_f32(wr[k]);
    acc += wv * to_f32(xr[k]);
  }
  const float v = warp_sum(acc);
  if (lane == 0) y[r] = v;
}

}  // namespace

void matmul_pairs(DType t, const void* x, int64_t K, const void* w, const int32_t* xrows, const int32_t* rows,
                  int64_t R, float* y, cudaStream_t s) {
  if (R == 0) return;
  dispatch_float_type(t, "matmul_pairs", [&](auto tag) {
    using E = decltype(tag);
    matmul_pairs_kernel<E><<<blocks_for(R, 8), 256, 0, s>>>(static_cast<const E*>(x), K, static_cast<const E*>(w),
                                                             xrows, rows, R, y);
  });
  SI_CUDA_LAUNCHED("matmul_pairs_kernel");
}

void matmul_rows(DType t, const void* x, int64_t M, int64_t K, const void* w, const int32_t* rows, int64_t R, float* y,
                 cudaStream_t s) {
  if (M == 0 || R == 0) return;
  dispatch_float_type(t, "matmul_rows", [&](auto tag) {
    using E = decltype(tag);
    matmul_rows_kernel<E><<<blocks_for(R, 8), 256, 0, s>>>(static_cast<const E*>(x), M, K, static_cast<const E*>(w),
                                                            rows, R, y);
  });
  SI_CUDA_LAUNCHED("matmul_rows_kernel");
}

}  // namespace si::cuda
