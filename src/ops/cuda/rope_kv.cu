// ops/cuda/rope_kv.cu — RoPE on a fused q|k|v row and the KV-cache store of the rotated keys and
// the values, in one launch: a decode step at batch 1 is latency-bound (16 layers x ~10 kernels),
// and every kernel boundary it loses saves a few microseconds. The values are bitwise those of
// rope() followed by kv_store(): the same fp32 angle and products, rounded once to the storage type.
#include <cmath>

#include "core/error.h"
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"

namespace si::cuda {
namespace {

// Threads [0, T (H + KVH) D/2): one rotation pair of a q or k head each (k pairs also go to the
// cache); the next T KVH D threads: one value each.
template <typename T>
__global__ void rope_kv_store_kernel(T* qkv, int64_t ld, const float* inv_freq, const TokenMeta* meta, int64_t T_,
                                     int H, int KVH, int D, bool interleaved, T* ck, T* cv, int cap) {
  pdl_trigger();
  pdl_wait();  // qkv is the matmul before's output
  const int half = D / 2;
  const int64_t n_rot = T_ * (H + KVH) * half;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx < n_rot) {
    const int i = int(idx % half);
    const int h = int((idx / half) % (H + KVH));
    const int64_t t = idx / (int64_t(half) * (H + KVH));
    const TokenMeta m = meta[t];
    const float angle = float(m.pos) * inv_freq[i];  // as rope_kernel (pos[t] there is meta[t].pos)
    float sn, cs;
    sincosf(angle, &sn, &cs);
    T* v = qkv + t * ld + int64_t(h) * D;
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    float fa, fb;
    rotate_pair(to_f32(v[ia]), to_f32(v[ib]), cs, sn, fa, fb);
    const T ra = from_f32<T>(fa), rb = from_f32<T>(fb);
    v[ia] = ra;
    v[ib] = rb;
    if (h >= H) {
      T* dst = ck + ((int64_t(m.slot) * KVH + (h - H)) * cap + m.pos) * D;
      dst[ia] = ra;
      dst[ib] = rb;
    }
    return;
  }
  const int64_t j = idx - n_rot;
  if (j >= T_ * KVH * D) return;
  const int d = int(j % D);
  const int kvh = int((j / D) % KVH);
  const int64_t t = j / (int64_t(D) * KVH);
  const TokenMeta m = meta[t];
  cv[((int64_t(m.slot) * KVH + kvh) * cap + m.pos) * D + d] = qkv[t * ld + int64_t(H + KVH) * D + int64_t(kvh) * D + d];
}

// The same for 16-bit storage with 16-byte accesses (a prefill's q|k|v is a pass over (T, Q + 2KV)
// values; one 2-byte access per thread ran at ~1 TB/s on the H100). Threads [0, T (H + KVH) U):
// one unit of a q or k head each, U = D/16 units of eight pairs (i, i + D/2) (two loads), or, when
// interleaved, U = D/8 units of four pairs (2i, 2i + 1) (one load); the next T KVH D/8 threads:
// eight values each.
template <typename T>
__global__ void rope_kv_store_vec_kernel(T* qkv, int64_t ld, const float* inv_freq, const TokenMeta* meta,
                                         int64_t T_, int H, int KVH, int D, bool interleaved, T* ck, T* cv, int cap) {
  pdl_trigger();
  pdl_wait();  // qkv is the matmul before's output
  const T* tag = nullptr;
  const int units = interleaved ? D / 8 : D / 16;
  const int64_t n_rot = T_ * (H + KVH) * units;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx < n_rot) {
    const int j = int(idx % units);
    const int h = int((idx / units) % (H + KVH));
    const int64_t t = idx / (int64_t(units) * (H + KVH));
    const TokenMeta m = meta[t];
    T* v = qkv + t * ld + int64_t(h) * D;
    T* dst = h >= H ? ck + ((int64_t(m.slot) * KVH + (h - H)) * cap + m.pos) * D : nullptr;
    float a[8], b[8];
    if (interleaved) {
      float r[8];
      unpack8(*reinterpret_cast<const uint4*>(v + 8 * j), tag, r);
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        float sn, cs;
        sincosf(float(m.pos) * inv_freq[4 * j + p], &sn, &cs);
        rotate_pair(r[2 * p], r[2 * p + 1], cs, sn, a[2 * p], a[2 * p + 1]);
      }
      const uint4 out = pack8(a, tag);
      *reinterpret_cast<uint4*>(v + 8 * j) = out;
      if (dst) *reinterpret_cast<uint4*>(dst + 8 * j) = out;
      return;
    }
    const int half = D / 2;
    float x0[8], x1[8];
    unpack8(*reinterpret_cast<const uint4*>(v + 8 * j), tag, x0);
    unpack8(*reinterpret_cast<const uint4*>(v + half + 8 * j), tag, x1);
#pragma unroll
    for (int p = 0; p < 8; ++p) {
      float sn, cs;
      sincosf(float(m.pos) * inv_freq[8 * j + p], &sn, &cs);
      rotate_pair(x0[p], x1[p], cs, sn, a[p], b[p]);
    }
    const uint4 oa = pack8(a, tag), ob = pack8(b, tag);
    *reinterpret_cast<uint4*>(v + 8 * j) = oa;
    *reinterpret_cast<uint4*>(v + half + 8 * j) = ob;
    if (dst) {
      *reinterpret_cast<uint4*>(dst + 8 * j) = oa;
      *reinterpret_cast<uint4*>(dst + half + 8 * j) = ob;
    }
    return;
  }
  const int64_t j = idx - n_rot;
  if (j >= T_ * KVH * (D / 8)) return;
  const int d8 = int(j % (D / 8));
  const int kvh = int((j / (D / 8)) % KVH);
  const int64_t t = j / (int64_t(D / 8) * KVH);
  const TokenMeta m = meta[t];
  *reinterpret_cast<uint4*>(cv + ((int64_t(m.slot) * KVH + kvh) * cap + m.pos) * D + 8 * d8) =
      *reinterpret_cast<const uint4*>(qkv + t * ld + int64_t(H + KVH) * D + int64_t(kvh) * D + 8 * d8);
}

}  // namespace

void rope_kv_store(DType t, void* qkv, int64_t ld, const float* inv_freq, int64_t T, int H, const KvLayer& cache,
                   const TokenMeta* meta, bool interleaved, cudaStream_t s) {
  const int KVH = cache.n_kv_heads, D = cache.head_dim;
  SI_CHECK(t == cache.t, "rope_kv_store (CUDA): keys are {} but the cache holds {}", dtype_name(t), dtype_name(cache.t));
  SI_CHECK(D > 0 && D % 2 == 0, "rope_kv_store (CUDA): head_dim {} must be even", D);
  SI_CHECK(ld >= int64_t(H + 2 * KVH) * D, "rope_kv_store (CUDA): row stride {} shorter than {} heads of {}", ld,
           H + 2 * KVH, D);
  const int64_t n = T * (H + KVH) * (D / 2) + T * KVH * D;
  if (n == 0) return;
  dispatch_float_type(t, "rope_kv_store", [&](auto tag) {
    using E = decltype(tag);
    if constexpr (sizeof(E) == 2) {
      if (D % 16 == 0 && aligned16({qkv, cache.k, cache.v}, ld, 2)) {
        const int64_t nv = T * (H + KVH) * (interleaved ? D / 8 : D / 16) + T * KVH * (D / 8);
        launch_pdl(rope_kv_store_vec_kernel<E>, blocks_for(nv, 256), 256, 0, s, static_cast<E*>(qkv), ld, inv_freq,
                   meta, T, H, KVH, D, interleaved, static_cast<E*>(cache.k), static_cast<E*>(cache.v),
                   cache.capacity);
        return;
      }
    }
    launch_pdl(rope_kv_store_kernel<E>, blocks_for(n, 256), 256, 0, s, static_cast<E*>(qkv), ld, inv_freq, meta, T, H,
               KVH, D, interleaved, static_cast<E*>(cache.k), static_cast<E*>(cache.v), cache.capacity);
  });
  SI_CUDA_LAUNCHED("rope_kv_store_kernel");
}

}  // namespace si::cuda
