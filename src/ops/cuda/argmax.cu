// ops/cuda/argmax.cu — greedy decoding's pick on the device: the index of each row's largest value.
// One block per row; each thread scans a strided part of the row with 16-byte loads, then the
// block reduces (value, index) pairs. Ties go to the lowest index and NaN never wins, which is what
// std::max_element does on the host on rows without NaN.
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"

namespace si::cuda {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ void better(float v, int32_t i, float& bv, int32_t& bi) {
  // v > bv is false for NaN, so NaN never replaces a number; equal values keep the lower index.
  if (v > bv || (v == bv && i < bi)) {
    bv = v;
    bi = i;
  }
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* x, int64_t V, int32_t* out) {
  const float* row = x + int64_t(blockIdx.x) * V;
  float bv = -INFINITY;
  int32_t bi = 0x7fffffff;
  // 16-byte loads on the aligned body of the row (rows start at any multiple of 4 bytes).
  const int64_t mis = int64_t((16 - (reinterpret_cast<uintptr_t>(row) & 15)) & 15) / 4;
  const int64_t head = mis < V ? mis : V;
  for (int64_t v = threadIdx.x; v < head; v += kThreads) better(row[v], int32_t(v), bv, bi);
  const int64_t n4 = (V - head) / 4;
  const float4* body = reinterpret_cast<const float4*>(row + head);
  for (int64_t i = threadIdx.x; i < n4; i += kThreads) {
    const float4 q = body[i];
    const int32_t v = int32_t(head + 4 * i);
    better(q.x, v, bv, bi);
    better(q.y, v + 1, bv, bi);
    better(q.z, v + 2, bv, bi);
    better(q.w, v + 3, bv, bi);
  }
  for (int64_t v = head + 4 * n4 + threadIdx.x; v < V; v += kThreads) better(row[v], int32_t(v), bv, bi);
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    better(ov, oi, bv, bi);
  }
  __shared__ float sv[kThreads / 32];
  __shared__ int32_t si[kThreads / 32];
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  if (lane == 0) {
    sv[warp] = bv;
    si[warp] = bi;
  }
  __syncthreads();
  if (warp == 0) {
    bv = lane < kThreads / 32 ? sv[lane] : -INFINITY;
    bi = lane < kThreads / 32 ? si[lane] : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
      better(ov, oi, bv, bi);
    }
    // A row of NaN (or -inf) only: index 0, as the host loop that starts from element 0.
    if (lane == 0) out[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
  }
}

}  // namespace

void argmax_rows(const float* x, int64_t n, int64_t V, int32_t* out, cudaStream_t s) {
  SI_CHECK(V > 0 && V < 0x7fffffff, "argmax (CUDA): row length {} outside 1..2^31-2", V);
  if (n == 0) return;
  SI_CHECK(n <= 0x7fffffff, "argmax (CUDA): {} rows", n);
  argmax_kernel<<<unsigned(n), kThreads, 0, s>>>(x, V, out);
  SI_CUDA_LAUNCHED("argmax_kernel");
}

}  // namespace si::cuda
