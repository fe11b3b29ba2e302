// ops/cuda/attention.cu — causal GQA attention over the device KV cache, prefill and decode alike.
//
// One block per (token, kv head): the block stages 32 keys and values of that kv head at a time in
// shared memory (fp32) and every warp runs an online softmax for one of the query heads that share
// them (Llama-3.2-1B: 4 query heads per kv head, so K/V are read once for four heads). Lane j scores
// key j of the tile; lanes own output dimensions lane, lane+32, ... for the V sum.
// For 16-bit caches with head_dim a multiple of 8 (Llama's), keys and values come in 16-byte loads,
// and the next tile's loads are issued before the current tile is scored, so a decode step (one
// token: only KVH blocks, each walking every tile) waits on memory about once, not once per tile.
// Sizes this kernel is meant for: prompts of hundreds of tokens (the intent engine) and decode steps.
// A split-key variant for decode (one warp per query head and key range, no shared-memory staging)
// was tried and measured on an H100: 8.7 vs 9.9 us per layer at batch 1 and context 72, but slower
// from 16-64 tokens per batch on (each warp re-reads K/V that the tiles share), so it was not kept.
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"

namespace si::cuda {
namespace {

constexpr int kTile = 32;    // keys per shared-memory tile
constexpr int kWarps = 4;    // warps per block (query heads handled in parallel)
constexpr int kMaxDpl = 4;   // head_dim / 32 at most (head_dim <= 128)
constexpr int kMaxVec = kTile * 32 * kMaxDpl / 8 / (kWarps * 32);  // 16-byte chunks per thread per tile

template <typename T, bool kVec>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const T* q, int64_t ldq, T* out, int64_t ldo, int H,
                                                                const T* ck, const T* cv, int KVH, int D, int cap,
                                                                const TokenMeta* meta) {
  pdl_trigger();  // the o matmul may start loading its weights (it waits for out)
  pdl_wait();     // q and the cache rows of this step come from the kernel before
  extern __shared__ float smem[];
  float* ks = smem;                        // (kTile, D + 1): padded so lane j reading row j is conflict-free
  float* vs = ks + kTile * (D + 1);        // (kTile, D)
  float* qs = vs + kTile * D;              // (G, D) this block's query heads
  const int64_t t = blockIdx.x;
  const int kvh = int(blockIdx.y);
  const int G = H / KVH;
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  const TokenMeta m = meta[t];
  const int n = m.pos + 1;
  const float scale = 1.0f / sqrtf(float(D));

  for (int i = int(threadIdx.x); i < G * D; i += int(blockDim.x))
    qs[i] = to_f32(q[t * ldq + int64_t(kvh * G) * D + i]) * scale;

  // kVec: tile rows of D/8 16-byte chunks, chunk e of a tile at row e / cpr; loaded into registers
  // (fetch) one tile ahead, converted into shared memory (stash) when the previous tile is done.
  const int cpr = D / 8;
  uint4 kreg[kVec ? kMaxVec : 1], vreg[kVec ? kMaxVec : 1];
  auto fetch = [&](int j0) {
#pragma unroll
    for (int u = 0; u < (kVec ? kMaxVec : 0); ++u) {
      const int e = int(threadIdx.x) + u * int(blockDim.x), jj = e / cpr, j = j0 + jj;
      kreg[u] = vreg[u] = make_uint4(0, 0, 0, 0);
      if (e < kTile * cpr && j < n) {
        const int slot = j < m.prefix_len ? m.prefix_slot : m.slot;
        const int64_t off = ((int64_t(slot) * KVH + kvh) * cap + j) * D + (e - jj * cpr) * 8;
        kreg[u] = *reinterpret_cast<const uint4*>(ck + off);
        vreg[u] = *reinterpret_cast<const uint4*>(cv + off);
      }
    }
  };
  auto stash = [&]() {
#pragma unroll
    for (int u = 0; u < (kVec ? kMaxVec : 0); ++u) {
      const int e = int(threadIdx.x) + u * int(blockDim.x), jj = e / cpr, d0 = (e - jj * cpr) * 8;
      if (e < kTile * cpr) {
        const T* kp = reinterpret_cast<const T*>(&kreg[u]);
        const T* vp = reinterpret_cast<const T*>(&vreg[u]);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          ks[jj * (D + 1) + d0 + i] = to_f32(kp[i]);
          vs[jj * D + d0 + i] = to_f32(vp[i]);
        }
      }
    }
  };

  // Warp w handles query head g0 + w of this kv head; more than kWarps heads per kv head sweep the
  // keys again (Llama-3.2-1B has 4: one sweep).
  for (int g0 = 0; g0 < G; g0 += kWarps) {
    const int g = g0 + warp;
    float mx = -INFINITY, l = 0.0f;
    float acc[kMaxDpl];
#pragma unroll
    for (int i = 0; i < kMaxDpl; ++i) acc[i] = 0.0f;
    if (kVec) fetch(0);
    for (int j0 = 0; j0 < n; j0 += kTile) {
      __syncthreads();  // previous tile (and qs on the first pass) fully used / written
      if (kVec) stash();
      for (int e = int(threadIdx.x); !kVec && e < kTile * D; e += int(blockDim.x)) {
        const int jj = e / D, d = e % D, j = j0 + jj;
        float kval = 0.0f, vval = 0.0f;
        if (j < n) {
          const int slot = j < m.prefix_len ? m.prefix_slot : m.slot;
          const int64_t off = ((int64_t(slot) * KVH + kvh) * cap + j) * D + d;
          kval = to_f32(ck[off]);
          vval = to_f32(cv[off]);
        }
        ks[jj * (D + 1) + d] = kval;
        vs[jj * D + d] = vval;
      }
      __syncthreads();
      if (kVec && j0 + kTile < n) fetch(j0 + kTile);  // in flight while this tile is scored
      if (g >= G) continue;
      const float* qg = qs + g * D;
      float sc = -INFINITY;
      if (j0 + lane < n) {
        const float* kr = ks + lane * (D + 1);
        float dot = 0.0f;
#pragma unroll 8
        for (int d = 0; d < D; ++d) dot += qg[d] * kr[d];
        sc = dot;
      }
      const float mnew = fmaxf(mx, warp_max(sc));
      const float p = j0 + lane < n ? expf(sc - mnew) : 0.0f;
      const float corr = expf(mx - mnew);  // exp(-inf) = 0 on the first tile
      l = l * corr + warp_sum(p);
      mx = mnew;
#pragma unroll
      for (int i = 0; i < kMaxDpl; ++i) acc[i] *= corr;
      const int jn = min(kTile, n - j0);
      for (int jj = 0; jj < jn; ++jj) {
        const float pj = __shfl_sync(0xffffffffu, p, jj);
        const float* vr = vs + jj * D;
#pragma unroll
        for (int i = 0; i < kMaxDpl; ++i)
          if (lane + 32 * i < D) acc[i] += pj * vr[lane + 32 * i];
      }
    }
    if (g < G) {
      const float inv = 1.0f / l;
      T* o = out + t * ldo + int64_t(kvh * G + g) * D;
#pragma unroll
      for (int i = 0; i < kMaxDpl; ++i)
        if (lane + 32 * i < D) o[lane + 32 * i] = from_f32<T>(acc[i] * inv);
    }
  }
}

}  // namespace

void attention(DType t, const void* q, int64_t ldq, void* out, int64_t ldo, int64_t T, int H, const KvLayer& cache,
               const TokenMeta* meta, cudaStream_t s) {
  const int KVH = cache.n_kv_heads, D = cache.head_dim;
  SI_CHECK(t == cache.t, "attention (CUDA): queries are {} but the cache holds {}", dtype_name(t), dtype_name(cache.t));
  SI_CHECK(KVH > 0 && H % KVH == 0, "attention (CUDA): {} query heads not a multiple of {} kv heads", H, KVH);
  SI_CHECK(D > 0 && D <= 32 * kMaxDpl, "attention (CUDA): head_dim {} outside 1..{}", D, 32 * kMaxDpl);
  SI_CHECK(ldq >= int64_t(H) * D && ldo >= int64_t(H) * D, "attention (CUDA): row strides {}, {} shorter than {}",
           ldq, ldo, int64_t(H) * D);
  SI_CHECK(T <= 0x7fffffff, "attention (CUDA): {} tokens in one batch", T);
  if (T == 0) return;
  const int G = H / KVH;
  const size_t smem = sizeof(float) * size_t(kTile * (D + 1) + kTile * D + G * D);
  SI_CHECK(smem <= 48 * 1024, "attention (CUDA): {} query heads per kv head of {} need {} bytes of shared memory", G,
           D, smem);
  const bool vec = t != DType::F32 && D % 8 == 0 &&
                   (reinterpret_cast<uintptr_t>(cache.k) | reinterpret_cast<uintptr_t>(cache.v)) % 16 == 0;
  dispatch_float_type(t, "attention", [&](auto tag) {
    using E = decltype(tag);
    const dim3 grid{unsigned(T), unsigned(KVH)};
    auto* kernel = vec ? attention_kernel<E, sizeof(E) == 2> : attention_kernel<E, false>;
    launch_pdl(kernel, grid, kWarps * 32, smem, s, static_cast<const E*>(q), ldq, static_cast<E*>(out), ldo, H,
               static_cast<const E*>(cache.k), static_cast<const E*>(cache.v), KVH, D, cache.capacity, meta);
  });
  SI_CUDA_LAUNCHED("attention_kernel");
}

}  // namespace si::cuda
