// ops/cuda/elementwise.cu — the O(T*C) ops of the Llama block: embedding gather, RMSNorm, RoPE,
// SwiGLU, residual add and the KV-cache store. Memory-bound: one pass over their inputs each,
// fp32 arithmetic, results rounded once to the output type.
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/device.h"

namespace si::cuda {
namespace {

template <typename Tt, typename To>
__global__ void embedding_kernel(const Tt* table, int64_t C, const int32_t* ids, To* out) {
  const int64_t t = blockIdx.y;
  const Tt* row = table + int64_t(ids[t]) * C;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x)
    out[t * C + c] = from_f32<To>(to_f32(row[c]));
}

// One block per row (row rows[b] of x when rows is given); fp32 sum of squares, then the scaled row.
template <typename Tx, typename Ty>
__global__ void rms_norm_kernel(const Tx* x, const int32_t* rows, const float* w, float eps, Ty* y, int64_t C) {
  pdl_trigger();  // the matmul after the norm may start loading its weights (it waits for y)
  pdl_wait();     // x is the kernel before's output
  const Tx* xr = x + (rows ? int64_t(rows[blockIdx.x]) : int64_t(blockIdx.x)) * C;
  Ty* yr = y + int64_t(blockIdx.x) * C;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const float v = to_f32(xr[c]);
    ss += v * v;
  }
  ss = block_sum(ss);
  const float rstd = 1.0f / sqrtf(ss / float(C) + eps);
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = from_f32<Ty>(w[c] * (to_f32(xr[c]) * rstd));
}

// The same for f32 rows of C = 4 * kNormThreads * n4 or fewer floats (the residual stream): each
// thread issues all its 16-byte loads of x and w at once and keeps them in registers, so a row
// costs one memory round trip, not one per loop turn (5.8 us for one 2048-wide row before, H100).
constexpr int kNormThreads = 256;
constexpr int kNormVec = 4;  // float4s per thread: C <= 4096

__device__ __forceinline__ void store4(float* p, float a, float b, float c, float d) {
  *reinterpret_cast<float4*>(p) = make_float4(a, b, c, d);
}
__device__ __forceinline__ void store4(__half* p, float a, float b, float c, float d) {
  const __half2 lo = __floats2half2_rn(a, b), hi = __floats2half2_rn(c, d);
  uint2 u;
  u.x = *reinterpret_cast<const uint32_t*>(&lo);
  u.y = *reinterpret_cast<const uint32_t*>(&hi);
  *reinterpret_cast<uint2*>(p) = u;
}

template <typename Ty>
__global__ void __launch_bounds__(kNormThreads) rms_norm_f32_kernel(const float* x, const int32_t* rows, const float* w,
                                                                    float eps, Ty* y, int C) {
  pdl_trigger();
  pdl_wait();
  const int64_t src = rows ? int64_t(rows[blockIdx.x]) : int64_t(blockIdx.x);
  const float4* xr = reinterpret_cast<const float4*>(x + src * C);
  const float4* wr = reinterpret_cast<const float4*>(w);
  const int n4 = C / 4;
  float4 xv[kNormVec], wv[kNormVec];
#pragma unroll
  for (int i = 0; i < kNormVec; ++i) {
    const int j = int(threadIdx.x) + i * kNormThreads;
    if (j < n4) {
      xv[i] = xr[j];
      wv[i] = __ldg(wr + j);
    }
  }
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormVec; ++i)
    if (int(threadIdx.x) + i * kNormThreads < n4) ss += xv[i].x * xv[i].x + xv[i].y * xv[i].y + xv[i].z * xv[i].z + xv[i].w * xv[i].w;
  ss = block_sum(ss);
  const float rstd = 1.0f / sqrtf(ss / float(C) + eps);
  Ty* yr = y + int64_t(blockIdx.x) * C;
#pragma unroll
  for (int i = 0; i < kNormVec; ++i) {
    const int j = int(threadIdx.x) + i * kNormThreads;
    if (j < n4)
      store4(yr + 4 * j, wv[i].x * (xv[i].x * rstd), wv[i].y * (xv[i].y * rstd), wv[i].z * (xv[i].z * rstd),
             wv[i].w * (xv[i].w * rstd));
  }
}

// One thread per rotated pair (t, h, i).
template <typename T>
__global__ void rope_kernel(T* x, int64_t ld, const float* inv_freq, const int32_t* pos, int64_t T_, int H, int D,
                            bool interleaved) {
  const int half = D / 2;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= T_ * H * half) return;
  const int i = int(idx % half);
  const int h = int((idx / half) % H);
  const int64_t t = idx / (int64_t(half) * H);
  // The same fp32 angle as ops::rope_table (transformers forms inv_freq @ position_ids in fp32).
  const float angle = float(pos[t]) * inv_freq[i];
  float sn, cs;
  sincosf(angle, &sn, &cs);
  T* v = x + t * ld + int64_t(h) * D;
  const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
  float ra, rb;
  rotate_pair(to_f32(v[ia]), to_f32(v[ib]), cs, sn, ra, rb);
  v[ia] = from_f32<T>(ra);
  v[ib] = from_f32<T>(rb);
}

template <typename T>
__global__ void swiglu_kernel(const T* gate, const T* up, int64_t ld_in, T* out, int64_t T_, int64_t F) {
  pdl_trigger();  // (as in rms_norm_kernel: the down matmul's weights)
  pdl_wait();
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= T_ * F) return;
  const int64_t t = idx / F, f = idx % F;
  out[idx] = from_f32<T>(silu_mul(to_f32(gate[t * ld_in + f]), to_f32(up[t * ld_in + f])));
}

// The same on eight 16-bit values per thread with 16-byte loads and stores: a prefill's SwiGLU
// is a pass over (T, 3F) values, and one 2-byte load per thread ran it at ~1.1 TB/s (H100, batch
// 256 x 64 tokens: 0.73 ms a layer, 17 % of the whole prefill).
template <typename T>
__global__ void swiglu_vec_kernel(const T* gate, const T* up, int64_t ld_in, T* out, int64_t T_, int64_t F) {
  pdl_trigger();
  pdl_wait();
  const int64_t n8 = F / 8, idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= T_ * n8) return;
  const int64_t t = idx / n8, f = (idx % n8) * 8;
  float g[8], u[8], h[8];
  unpack8(*reinterpret_cast<const uint4*>(gate + t * ld_in + f), static_cast<const T*>(nullptr), g);
  unpack8(*reinterpret_cast<const uint4*>(up + t * ld_in + f), static_cast<const T*>(nullptr), u);
#pragma unroll
  for (int i = 0; i < 8; ++i) h[i] = silu_mul(g[i], u[i]);
  *reinterpret_cast<uint4*>(out + t * F + f) = pack8(h, static_cast<const T*>(nullptr));
}

template <typename Tx, typename Tr>
__global__ void add_kernel(Tx* x, const Tr* r, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = from_f32<Tx>(to_f32(x[i]) + to_f32(r[i]));
}

// One thread per element of k (T, KVH, D): copies it and its v twin into the slot's cache rows.
template <typename T>
__global__ void kv_store_kernel(const T* k, const T* v, int64_t ld, T* ck, T* cv, const TokenMeta* meta, int64_t T_,
                                int KVH, int D, int cap) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= T_ * KVH * D) return;
  const int d = int(idx % D);
  const int h = int((idx / D) % KVH);
  const int64_t t = idx / (int64_t(D) * KVH);
  const TokenMeta m = meta[t];
  const int64_t dst = ((int64_t(m.slot) * KVH + h) * cap + m.pos) * D + d;
  const int64_t src = t * ld + int64_t(h) * D + d;
  ck[dst] = k[src];
  cv[dst] = v[src];
}

template <typename Ts, typename Td>
__global__ void convert_kernel(const Ts* src, Td* dst, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = from_f32<Td>(to_f32(src[i]));
}

template <typename T>
__global__ void fill_random_kernel(T* x, int64_t n, uint64_t seed, float scale, float offset) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  uint64_t h = (uint64_t(i) + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xD1B54A32D192ED03ull;  // splitmix64
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  h ^= h >> 31;
  const float u = float(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
  x[i] = from_f32<T>(offset + scale * 1.7320508f * (2.0f * u - 1.0f));
}

}  // namespace

void convert(DType src_t, const void* src, DType dst_t, void* dst, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  dispatch_float_type(src_t, "convert", [&](auto stag) {
    dispatch_float_type(dst_t, "convert", [&](auto dtag) {
      using Ts = decltype(stag);
      using Td = decltype(dtag);
      convert_kernel<Ts, Td><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<const Ts*>(src), static_cast<Td*>(dst), n);
    });
  });
  SI_CUDA_LAUNCHED("convert_kernel");
}

void fill_random(DType t, void* x, int64_t n, uint64_t seed, float scale, float offset, cudaStream_t s) {
  if (n == 0) return;
  dispatch_float_type(t, "fill_random", [&](auto tag) {
    using E = decltype(tag);
    fill_random_kernel<E><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<E*>(x), n, seed, scale, offset);
  });
  SI_CUDA_LAUNCHED("fill_random_kernel");
}

void embedding(DType table_t, const void* table, int64_t C, const int32_t* ids, int64_t T, DType out_t, void* out,
               cudaStream_t s) {
  if (T == 0) return;
  SI_CHECK(T <= 65535, "embedding (CUDA): batch of {} tokens exceeds 65535", T);
  dispatch_float_type(table_t, "embedding", [&](auto ttag) {
    dispatch_float_type(out_t, "embedding", [&](auto otag) {
      using Tt = decltype(ttag);
      using To = decltype(otag);
      const dim3 grid(blocks_for(C, 256), unsigned(T));
      embedding_kernel<Tt, To><<<grid, 256, 0, s>>>(static_cast<const Tt*>(table), C, ids, static_cast<To*>(out));
    });
  });
  SI_CUDA_LAUNCHED("embedding_kernel");
}

namespace {

void launch_rms_norm(DType x_t, const void* x, const int32_t* rows, int64_t n, const float* w, float eps, DType y_t,
                     void* y, int64_t C, cudaStream_t s) {
  if (n == 0) return;
  SI_CHECK(n <= 0x7fffffff, "rms_norm (CUDA): {} rows", n);
  if (x_t == DType::F32 && (y_t == DType::F32 || y_t == DType::F16) && aligned16({x, w, y}) && C % 4 == 0 &&
      C <= 4 * kNormThreads * kNormVec) {
    if (y_t == DType::F32)
      launch_pdl(rms_norm_f32_kernel<float>, unsigned(n), kNormThreads, 0, s, static_cast<const float*>(x), rows, w,
                 eps, static_cast<float*>(y), int(C));
    else
      launch_pdl(rms_norm_f32_kernel<__half>, unsigned(n), kNormThreads, 0, s, static_cast<const float*>(x), rows, w,
                 eps, static_cast<__half*>(y), int(C));
    SI_CUDA_LAUNCHED("rms_norm_f32_kernel");
    return;
  }
  dispatch_float_type(x_t, "rms_norm", [&](auto xtag) {
    dispatch_float_type(y_t, "rms_norm", [&](auto ytag) {
      using Tx = decltype(xtag);
      using Ty = decltype(ytag);
      const int threads = C >= 1024 ? 256 : 128;
      launch_pdl(rms_norm_kernel<Tx, Ty>, unsigned(n), threads, 0, s, static_cast<const Tx*>(x), rows, w, eps,
                 static_cast<Ty*>(y), C);
    });
  });
  SI_CUDA_LAUNCHED("rms_norm_kernel");
}

}  // namespace

void rms_norm(DType x_t, const void* x, const float* w, float eps, DType y_t, void* y, int64_t T, int64_t C,
              cudaStream_t s) {
  launch_rms_norm(x_t, x, nullptr, T, w, eps, y_t, y, C, s);
}

void rms_norm_rows(DType x_t, const void* x, const int32_t* rows, int64_t n, const float* w, float eps, DType y_t,
                   void* y, int64_t C, cudaStream_t s) {
  launch_rms_norm(x_t, x, rows, n, w, eps, y_t, y, C, s);
}

void rope(DType t, void* x, int64_t ld, const float* inv_freq, const int32_t* pos, int64_t T, int H, int D,
          bool interleaved, cudaStream_t s) {
  SI_CHECK(D > 0 && D % 2 == 0, "rope (CUDA): head_dim {} must be even", D);
  SI_CHECK(ld >= int64_t(H) * D, "rope (CUDA): row stride {} shorter than {} heads of {}", ld, H, D);
  const int64_t n = T * H * (D / 2);
  if (n == 0) return;
  dispatch_float_type(t, "rope", [&](auto tag) {
    using E = decltype(tag);
    rope_kernel<E><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<E*>(x), ld, inv_freq, pos, T, H, D, interleaved);
  });
  SI_CUDA_LAUNCHED("rope_kernel");
}

void swiglu(DType t, const void* gate, const void* up, int64_t ld_in, void* out, int64_t T, int64_t F,
            cudaStream_t s) {
  SI_CHECK(ld_in >= F, "swiglu (CUDA): row stride {} shorter than the width {}", ld_in, F);
  if (T * F == 0) return;
  dispatch_float_type(t, "swiglu", [&](auto tag) {
    using E = decltype(tag);
    const auto* g = static_cast<const E*>(gate);
    const auto* u = static_cast<const E*>(up);
    auto* o = static_cast<E*>(out);
    if constexpr (sizeof(E) == 2) {
      if (F % 8 == 0 && aligned16({gate, up, out}, ld_in, 2)) {
        launch_pdl(swiglu_vec_kernel<E>, blocks_for(T * (F / 8), 256), 256, 0, s, g, u, ld_in, o, T, F);
        return;
      }
    }
    launch_pdl(swiglu_kernel<E>, blocks_for(T * F, 256), 256, 0, s, g, u, ld_in, o, T, F);
  });
  SI_CUDA_LAUNCHED("swiglu_kernel");
}

void add(DType x_t, void* x, DType r_t, const void* r, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  dispatch_float_type(x_t, "add", [&](auto xtag) {
    dispatch_float_type(r_t, "add", [&](auto rtag) {
      using Tx = decltype(xtag);
      using Tr = decltype(rtag);
      add_kernel<Tx, Tr><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<Tx*>(x), static_cast<const Tr*>(r), n);
    });
  });
  SI_CUDA_LAUNCHED("add_kernel");
}

void kv_store(DType t, const void* k, const void* v, int64_t ld, const KvLayer& cache, const TokenMeta* meta,
              int64_t T, cudaStream_t s) {
  SI_CHECK(t == cache.t, "kv_store (CUDA): keys are {} but the cache holds {}", dtype_name(t), dtype_name(cache.t));
  const int64_t n = T * cache.n_kv_heads * cache.head_dim;
  if (n == 0) return;
  dispatch_float_type(t, "kv_store", [&](auto tag) {
    using E = decltype(tag);
    kv_store_kernel<E><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<const E*>(k), static_cast<const E*>(v), ld,
                                                          static_cast<E*>(cache.k), static_cast<E*>(cache.v), meta, T,
                                                          cache.n_kv_heads, cache.head_dim, cache.capacity);
  });
  SI_CUDA_LAUNCHED("kv_store_kernel");
}

}  // namespace si::cuda
