// ops/cuda/argmax.cu — greedy decoding on the device: the pick (the index of each row's largest
// value) and the feed of the picks into the next step's inputs.
// argmax: a row is split over up to kMaxBlocks blocks, each reducing its slice to a (value, index)
// pair; the row's last block reduces the pairs. Ties go to the lowest index and NaN never wins,
// which is what std::max_element does on the host on rows without NaN.
#include <algorithm>
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"

namespace si::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 2;   // 16-byte loads per thread in one block's slice of a row
constexpr int kMaxBlocks = 128; // blocks per row (the work buffer's partials)

__device__ __forceinline__ void better(float v, int32_t i, float& bv, int32_t& bi) {
  // v > bv is false for NaN, so NaN never replaces a number; equal values keep the lower index.
  if (v > bv || (v == bv && i < bi)) {
    bv = v;
    bi = i;
  }
}

// The block's best (value, index) into thread 0's bv, bi. "Better" is a total order (larger value,
// then lower index), so the result does not depend on how the pairs are grouped.
__device__ __forceinline__ void block_best(float& bv, int32_t& bi) {
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int32_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    better(ov, oi, bv, bi);
  }
  __shared__ float sv[kThreads / 32];
  __shared__ int32_t si[kThreads / 32];
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  __syncthreads();  // sv / si may still be read by a previous call
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
  }
}

// Grid (nb, n): block b scans slice b of row r (16-byte loads on the row's aligned body; block 0
// also takes the unaligned head, the last block the tail) and leaves its best pair in the work
// buffer; the row's last block to finish (a counter per row) reduces the nb pairs, writes out[r]
// and sets the counter back to zero for the next launch (and graph replay).
__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* x, int64_t V, int nb, unsigned* count,
                                                          float* pv, int32_t* pi, int32_t* out) {
  pdl_trigger();
  pdl_wait();  // x is the LM head's output
  const int64_t r = blockIdx.y;
  const int b = int(blockIdx.x);
  const float* row = x + r * V;
  float bv = -INFINITY;
  int32_t bi = 0x7fffffff;
  // 16-byte loads on the aligned body of the row (rows start at any multiple of 4 bytes).
  const int64_t mis = int64_t((16 - (reinterpret_cast<uintptr_t>(row) & 15)) & 15) / 4;
  const int64_t head = mis < V ? mis : V;
  const int64_t n4 = (V - head) / 4;
  if (b == 0)
    for (int64_t v = threadIdx.x; v < head; v += kThreads) better(row[v], int32_t(v), bv, bi);
  const int64_t per = (n4 + nb - 1) / nb, lo = int64_t(b) * per, hi = lo + per < n4 ? lo + per : n4;
  const float4* body = reinterpret_cast<const float4*>(row + head);
  for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) {
    const float4 q = body[i];
    const int32_t v = int32_t(head + 4 * i);
    better(q.x, v, bv, bi);
    better(q.y, v + 1, bv, bi);
    better(q.z, v + 2, bv, bi);
    better(q.w, v + 3, bv, bi);
  }
  if (b == nb - 1)
    for (int64_t v = head + 4 * n4 + threadIdx.x; v < V; v += kThreads) better(row[v], int32_t(v), bv, bi);
  block_best(bv, bi);
  // A row of NaN (or -inf) only: index 0, as the host loop that starts from element 0.
  if (nb == 1) {
    if (threadIdx.x == 0) out[r] = bi == 0x7fffffff ? 0 : bi;
    return;
  }
  __shared__ bool last;
  if (threadIdx.x == 0) {
    pv[r * kMaxBlocks + b] = bv;
    pi[r * kMaxBlocks + b] = bi;
    __threadfence();  // the pair is visible before the count says so
    last = atomicAdd(count + r, 1u) == unsigned(nb - 1);
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  bv = -INFINITY;
  bi = 0x7fffffff;
  if (threadIdx.x < nb)
    better(reinterpret_cast<volatile float*>(pv)[r * kMaxBlocks + threadIdx.x],
           reinterpret_cast<volatile int32_t*>(pi)[r * kMaxBlocks + threadIdx.x], bv, bi);
  block_best(bv, bi);
  if (threadIdx.x == 0) {
    out[r] = bi == 0x7fffffff ? 0 : bi;
    count[r] = 0;
  }
}

__global__ void greedy_feed_kernel(const int32_t* next, int64_t B, int32_t* gen, int n_cols, int col, int32_t* ids,
                                   int32_t* pos, TokenMeta* meta, bool advance) {
  const int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const int32_t tok = next[b];
  gen[b * n_cols + col] = tok;
  if (!ids) return;
  ids[b] = tok;
  if (advance) {
    pos[b] += 1;
    meta[b].pos += 1;
  }
}

}  // namespace

void greedy_feed(const int32_t* next, int64_t B, int32_t* gen, int n_cols, int col, int32_t* ids, int32_t* pos,
                 TokenMeta* meta, bool advance, cudaStream_t s) {
  SI_CHECK(col >= 0 && col < n_cols, "greedy_feed (CUDA): column {} outside [0, {})", col, n_cols);
  SI_CHECK(!ids || !advance || (pos && meta), "greedy_feed (CUDA): advancing needs positions and metadata");
  if (B == 0) return;
  greedy_feed_kernel<<<blocks_for(B, 128), 128, 0, s>>>(next, B, gen, n_cols, col, ids, pos, meta, advance);
  SI_CUDA_LAUNCHED("greedy_feed_kernel");
}

size_t argmax_work_bytes(int64_t n) { return size_t(n) * (sizeof(unsigned) + kMaxBlocks * 8); }

void argmax_rows(const float* x, int64_t n, int64_t V, int32_t* out, void* work, cudaStream_t s) {
  SI_CHECK(V > 0 && V < 0x7fffffff, "argmax (CUDA): row length {} outside 1..2^31-2", V);
  if (n == 0) return;
  SI_CHECK(n <= 65535, "argmax (CUDA): {} rows exceed 65535", n);
  // Enough blocks that each thread makes about kPerThread loads: the whole row is read in about
  // one memory round trip (one block per row read a 128k vocabulary in ~10 us on the H100).
  const int64_t n4 = V / 4;
  const int nb = int(std::clamp<int64_t>((n4 + kThreads * kPerThread - 1) / (kThreads * kPerThread), 1, kMaxBlocks));
  auto* count = static_cast<unsigned*>(work);
  auto* pv = reinterpret_cast<float*>(count + n);
  auto* pi = reinterpret_cast<int32_t*>(pv + n * kMaxBlocks);
  launch_pdl(argmax_kernel, dim3(unsigned(nb), unsigned(n)), kThreads, 0, s, x, V, nb, count, pv, pi, out);
  SI_CUDA_LAUNCHED("argmax_kernel");
}

}  // namespace si::cuda
