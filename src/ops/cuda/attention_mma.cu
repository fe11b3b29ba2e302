// ops/cuda/attention_mma.cu — causal GQA attention for FP16 caches on the tensor cores, flash-attention
// style (mma.sync m16n8k16, fp32 accumulation, online softmax in fp32).
//
// Why: the CUDA-core kernel (attention.cu) gives each (token, kv head) its own block, which walks
// every key through shared memory with one fp32 product per shared-memory load. In the intent
// engine every request sees a ~230-token catalog prefix, and that kernel took about half the GPU
// time of a batch of 32 cart queries (H100, ncu: 344 us per layer for 720 tokens). Here one block
// serves a chunk of consecutive tokens of one sequence: each K/V tile it loads is used by every
// query of the chunk, and the products run on the tensor cores.
//
// Layout: a block is (chunk, kv head) with 4 warps; warp w owns 16 query rows = 16/G tokens x the G
// query heads sharing the kv head (row = token * G + head), so a chunk is up to 4 * 16/G tokens
// (attention_mma_chunk_tokens). Per tile of 32 keys: S = Q K^T (D/16 x 4 mma), masking and the
// online softmax on S's accumulator fragments, which are re-packed in place as the A operand of
// O += P V (2 x D/8 mma), the FlashAttention-2 register layout. K is staged as rows [key][dim] and
// V transposed [dim][key], both padded so that every fragment load is free of bank conflicts. The
// next tile's K/V are in registers while the current one is computed. P goes into the second
// product rounded to fp16 (as FlashAttention does); the row sums use the fp32 values.
#include <cuda_fp16.h>

#include <cmath>

#include "core/error.h"
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"

namespace si::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kKeys = 32;  // keys per tile
constexpr int kPad = 8;    // halves of padding per shared-memory row

__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ uint32_t ld32(const __half* p) { return *reinterpret_cast<const uint32_t*>(p); }

template <int D>
__global__ void __launch_bounds__(kWarps * 32)
    attention_mma_kernel(const __half* q, int64_t ldq, __half* out, int64_t ldo, int H, const __half* ck,
                         const __half* cv, int KVH, int cap, const TokenMeta* meta, const int32_t* chunks) {
  pdl_trigger();  // the o matmul may start loading its weights (it waits for out)
  pdl_wait();     // q and the cache rows of this step come from the kernel before
  constexpr int kSteps = D / 16;                             // k-steps of Q K^T
  constexpr int kLoads = kKeys * D / 8 / (kWarps * 32);     // 16-byte chunks per thread per tile (K and V each)
  __shared__ __align__(16) __half ks[kKeys][D + kPad];
  __shared__ __align__(16) __half vt[D][kKeys + kPad];

  const int c = int(blockIdx.x);
  if (c >= chunks[0]) return;  // the grid covers the most chunks a batch of its size can have
  const int t0 = chunks[1 + c], t1 = chunks[2 + c];
  const int kvh = int(blockIdx.y), G = H / KVH, per_warp = 16 / G;
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  const int grp = lane >> 2, tig = lane & 3;
  const TokenMeta first = meta[t0];
  const int n = meta[t1 - 1].pos + 1;  // keys the chunk's last token sees
  const bool live = t0 + warp * per_warp < t1;

  // This thread's two rows (grp and grp + 8 of the warp's 16). Rows past the chunk's end repeat
  // its last token, so that they see valid keys (no NaN), and are not written.
  int row_t[2], row_head[2], row_pos[2];
  bool row_ok[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = grp + 8 * h, tt = t0 + warp * per_warp + r / G;
    row_ok[h] = tt < t1;
    row_t[h] = min(tt, t1 - 1);
    row_head[h] = kvh * G + r % G;
    row_pos[h] = meta[row_t[h]].pos;
  }
  uint32_t qa[kSteps][4];
#pragma unroll
  for (int s = 0; s < kSteps; ++s) {
    const __half* q0 = q + int64_t(row_t[0]) * ldq + int64_t(row_head[0]) * D + s * 16 + tig * 2;
    const __half* q1 = q + int64_t(row_t[1]) * ldq + int64_t(row_head[1]) * D + s * 16 + tig * 2;
    qa[s][0] = ld32(q0);
    qa[s][1] = ld32(q1);
    qa[s][2] = ld32(q0 + 8);
    qa[s][3] = ld32(q1 + 8);
  }

  uint4 kr[kLoads], vr[kLoads];
  auto fetch = [&](int j0) {
#pragma unroll
    for (int u = 0; u < kLoads; ++u) {
      const int e = int(threadIdx.x) + u * kWarps * 32, jj = e / (D / 8), j = j0 + jj;
      kr[u] = vr[u] = make_uint4(0, 0, 0, 0);  // keys past n: zeros (their weight is 0; garbage could be NaN)
      if (j < n) {
        const int slot = j < first.prefix_len ? first.prefix_slot : first.slot;
        const int64_t off = ((int64_t(slot) * KVH + kvh) * cap + j) * D + (e % (D / 8)) * 8;
        kr[u] = *reinterpret_cast<const uint4*>(ck + off);
        vr[u] = *reinterpret_cast<const uint4*>(cv + off);
      }
    }
  };
  auto stash = [&]() {
#pragma unroll
    for (int u = 0; u < kLoads; ++u) {
      const int e = int(threadIdx.x) + u * kWarps * 32, jj = e / (D / 8), d0 = (e % (D / 8)) * 8;
      *reinterpret_cast<uint4*>(&ks[jj][d0]) = kr[u];
      const __half* v = reinterpret_cast<const __half*>(&vr[u]);
#pragma unroll
      for (int i = 0; i < 8; ++i) vt[d0 + i][jj] = v[i];
    }
  };

  const float scale_log2 = rsqrtf(float(D)) * 1.4426950408889634f;  // softmax in base 2
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;

  fetch(0);
  for (int j0 = 0; j0 < n; j0 += kKeys) {
    __syncthreads();  // every warp is done with the previous tile
    stash();
    __syncthreads();
    if (j0 + kKeys < n) fetch(j0 + kKeys);  // in flight while this tile is computed
    if (!live) continue;
    float s[4][4];
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
      for (int k = 0; k < kSteps; ++k)
        mma16816(s[nt], qa[k], ld32(&ks[nt * 8 + grp][k * 16 + tig * 2]), ld32(&ks[nt * 8 + grp][k * 16 + 8 + tig * 2]));
    }
    // s[nt][e]: row grp + 8 * (e / 2), key j0 + nt * 8 + tig * 2 + e % 2. Causal mask, row maxima.
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e >> 1, key = j0 + nt * 8 + tig * 2 + (e & 1);
        const float v = key <= row_pos[h] ? s[nt][e] * scale_log2 : -INFINITY;
        s[nt][e] = v;
        mx[h] = fmaxf(mx[h], v);
      }
    float corr[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      corr[h] = exp2f(m[h] - mx[h]);  // key 0 is in every row's first tile: mx is finite, corr 0 at first
      m[h] = mx[h];
      l[h] *= corr[h];
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(s[nt][e] - m[e >> 1]);
        s[nt][e] = p;
        l[e >> 1] += p;  // this thread's columns; the quad's partial sums are added at the end
      }
#pragma unroll
    for (int i = 0; i < D / 8; ++i) {
      o[i][0] *= corr[0];
      o[i][1] *= corr[0];
      o[i][2] *= corr[1];
      o[i][3] *= corr[1];
    }
#pragma unroll
    for (int kk = 0; kk < 2; ++kk) {  // keys 16 kk .. 16 kk + 15 of the tile
      const uint32_t pa[4] = {pack_half2(s[2 * kk][0], s[2 * kk][1]), pack_half2(s[2 * kk][2], s[2 * kk][3]),
                              pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int i = 0; i < D / 8; ++i)
        mma16816(o[i], pa, ld32(&vt[i * 8 + grp][kk * 16 + tig * 2]), ld32(&vt[i * 8 + grp][kk * 16 + 8 + tig * 2]));
    }
  }
  if (!live) return;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    if (!row_ok[h]) continue;
    const float inv = 1.0f / l[h];
    __half* dst = out + int64_t(row_t[h]) * ldo + int64_t(row_head[h]) * D + tig * 2;
#pragma unroll
    for (int i = 0; i < D / 8; ++i)
      *reinterpret_cast<__half2*>(dst + i * 8) = __floats2half2_rn(o[i][2 * h] * inv, o[i][2 * h + 1] * inv);
  }
}

}  // namespace

int attention_mma_chunk_tokens(DType t, int H, int KVH, int D) {
  if (t != DType::F16 || KVH <= 0 || H % KVH != 0) return 0;
  const int G = H / KVH;
  if (16 % G != 0 || (D != 64 && D != 128)) return 0;
  return kWarps * (16 / G);
}

int attention_chunks(const TokenMeta* meta, int64_t T, int max_tokens, int32_t* chunks) {
  SI_CHECK(max_tokens > 0, "attention chunks: {} tokens per chunk", max_tokens);
  int n = 0, start = 0;
  for (int64_t t = 0; t < T; ++t) {
    const TokenMeta& a = meta[t];
    const bool cont = t > 0 && int(t) - start < max_tokens && a.slot == meta[t - 1].slot &&
                      a.pos == meta[t - 1].pos + 1 && a.prefix_slot == meta[t - 1].prefix_slot &&
                      a.prefix_len == meta[t - 1].prefix_len;
    if (!cont) {
      start = int(t);
      chunks[1 + n++] = start;
    }
  }
  chunks[0] = n;
  chunks[1 + n] = int(T);
  return n;
}

void attention_mma(const void* q, int64_t ldq, void* out, int64_t ldo, int64_t T, int H, const KvLayer& cache,
                   const TokenMeta* meta, const int32_t* chunks, cudaStream_t s) {
  const int KVH = cache.n_kv_heads, D = cache.head_dim;
  SI_CHECK(attention_mma_chunk_tokens(cache.t, H, KVH, D) > 0,
           "attention (CUDA, tensor cores): {} cache, {} query heads over {} kv heads, head_dim {} not supported",
           dtype_name(cache.t), H, KVH, D);
  SI_CHECK((reinterpret_cast<uintptr_t>(cache.k) | reinterpret_cast<uintptr_t>(cache.v)) % 16 == 0 &&
               ldq % 2 == 0 && ldo % 2 == 0,
           "attention (CUDA, tensor cores): cache not 16-byte aligned or odd row strides");
  SI_CHECK(T <= 0x7fffffff, "attention (CUDA): {} tokens in one batch", T);
  if (T == 0) return;
  const dim3 grid{unsigned(T), unsigned(KVH)};  // T tokens make at most T chunks
  auto* kernel = D == 64 ? attention_mma_kernel<64> : attention_mma_kernel<128>;
  launch_pdl(kernel, grid, kWarps * 32, 0, s, static_cast<const __half*>(q), ldq, static_cast<__half*>(out), ldo, H,
             static_cast<const __half*>(cache.k), static_cast<const __half*>(cache.v), KVH, cache.capacity, meta,
             chunks);
  SI_CUDA_LAUNCHED("attention_mma_kernel");
}

}  // namespace si::cuda
