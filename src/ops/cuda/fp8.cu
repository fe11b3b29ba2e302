// ops/cuda/fp8.cu — rows quantized to e4m3 with one scale each (fp8.h): alone, after RMSNorm, and
// after SwiGLU. One block per row in three (norm) or two passes over it: the row's largest
// magnitude must be known before its first value is stored. The later passes re-read the row
// (2-32 KB) from L1/L2, not HBM, so each op costs one read of its input and a 1-byte write per
// value: less traffic than the fp16 output it replaces.
#include <cuda_fp8.h>

#include "ops/cuda/common.cuh"
#include "ops/cuda/fp8.h"

namespace si::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kVec = 8;  // values per thread and pass step: one 16-byte load of 16-bit values

__device__ __forceinline__ void load8(const float* p, float* v) {
  const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
template <typename T>
__device__ __forceinline__ void load8(const T* p, float* v) {
  unpack8(*reinterpret_cast<const uint4*>(p), p, v);
}

__device__ __forceinline__ float abs_max8(const float* v, float m) {
#pragma unroll
  for (int i = 0; i < kVec; ++i) m = fmaxf(m, fabsf(v[i]));
  return m;
}

// Eight values times inv as e4m3 (round to nearest even, saturated) into 8 bytes at q.
__device__ __forceinline__ void store8_e4m3(uint8_t* q, const float* v, float inv) {
  uint32_t w[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const __nv_fp8x2_storage_t lo =
        __nv_cvt_float2_to_fp8x2(make_float2(v[4 * h] * inv, v[4 * h + 1] * inv), __NV_SATFINITE, __NV_E4M3);
    const __nv_fp8x2_storage_t hi =
        __nv_cvt_float2_to_fp8x2(make_float2(v[4 * h + 2] * inv, v[4 * h + 3] * inv), __NV_SATFINITE, __NV_E4M3);
    w[h] = uint32_t(lo) | (uint32_t(hi) << 16);
  }
  *reinterpret_cast<uint2*>(q) = make_uint2(w[0], w[1]);
}

// The row's scale from its largest magnitude (thread 0 stores it); returns 1 / scale.
__device__ __forceinline__ float row_scale(float amax, float* scale) {
  amax = block_max(amax);
  if (threadIdx.x == 0) scale[blockIdx.x] = amax > 0.0f ? amax / kFp8Max : 1.0f;
  return amax > 0.0f ? kFp8Max / amax : 1.0f;
}

// Row blockIdx.x of n values, which values(c, v) computes into v[0..7] for columns c..c+7, as
// e4m3 into q's row with its scale: one pass for the largest magnitude, one to store.
template <typename Values>
__device__ __forceinline__ void quantize_row(int64_t n, Values&& values, uint8_t* q, float* scale) {
  float v[kVec], amax = 0.0f;
  for (int64_t c = int64_t(threadIdx.x) * kVec; c < n; c += kThreads * kVec) {
    values(c, v);
    amax = abs_max8(v, amax);
  }
  const float inv = row_scale(amax, scale);
  uint8_t* qr = q + int64_t(blockIdx.x) * n;
  for (int64_t c = int64_t(threadIdx.x) * kVec; c < n; c += kThreads * kVec) {
    values(c, v);
    store8_e4m3(qr + c, v, inv);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) quantize_rows_kernel(const T* x, int64_t K, uint8_t* q, float* scale) {
  pdl_trigger();  // the matmul after may start loading its weights
  pdl_wait();
  const T* xr = x + int64_t(blockIdx.x) * K;
  quantize_row(K, [&](int64_t c, float* v) { load8(xr + c, v); }, q, scale);
}

__global__ void __launch_bounds__(kThreads) rms_norm_fp8_kernel(const float* x, const float* w, float eps, int64_t C,
                                                                uint8_t* q, float* scale) {
  pdl_trigger();
  pdl_wait();
  const float* xr = x + int64_t(blockIdx.x) * C;
  float v[kVec], ss = 0.0f;
  for (int64_t c = int64_t(threadIdx.x) * kVec; c < C; c += kThreads * kVec) {
    load8(xr + c, v);
#pragma unroll
    for (int i = 0; i < kVec; ++i) ss += v[i] * v[i];
  }
  ss = block_sum(ss);
  const float rstd = 1.0f / sqrtf(ss / float(C) + eps);
  // v = w * (x * rstd), as rms_norm rounds it (before its fp16 store).
  quantize_row(
      C,
      [&](int64_t c, float* v) {
        float g[kVec];
        load8(xr + c, v);
        load8(w + c, g);
#pragma unroll
        for (int i = 0; i < kVec; ++i) v[i] = g[i] * (v[i] * rstd);
      },
      q, scale);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) swiglu_fp8_kernel(const T* gate, const T* up, int64_t ld_in, int64_t F,
                                                              uint8_t* q, float* scale) {
  pdl_trigger();
  pdl_wait();
  const int64_t row = int64_t(blockIdx.x) * ld_in;
  quantize_row(
      F,
      [&](int64_t f, float* v) {
        float u[kVec];
        load8(gate + row + f, v);
        load8(up + row + f, u);
#pragma unroll
        for (int i = 0; i < kVec; ++i) v[i] = silu_mul(v[i], u[i]);
      },
      q, scale);
}

void check_rows(const char* op, int64_t rows, int64_t K, std::initializer_list<const void*> ptrs, int64_t ld = 0,
                int64_t bytes = 1) {
  SI_CHECK(rows >= 0 && K > 0 && K % 16 == 0, "{} (CUDA): rows of a multiple of 16 values needed, got {} x {}", op,
           rows, K);
  SI_CHECK(rows < (int64_t(1) << 31), "{} (CUDA): {} rows exceed one launch", op, rows);
  SI_CHECK(aligned16(ptrs, ld, bytes), "{} (CUDA): inputs and outputs must be 16-byte aligned", op);
}

}  // namespace

void fp8_quantize_rows(DType t, const void* x, int64_t M, int64_t K, void* q, float* scale, cudaStream_t s) {
  check_rows("fp8_quantize_rows", M, K, {x, q});
  if (M == 0) return;
  dispatch_float_type(t, "fp8_quantize_rows", [&](auto tag) {
    using T = decltype(tag);
    launch_pdl(quantize_rows_kernel<T>, dim3(unsigned(M)), dim3(kThreads), 0, s, static_cast<const T*>(x), K,
               static_cast<uint8_t*>(q), scale);
  });
}

void rms_norm_fp8(const float* x, const float* w, float eps, void* q, float* scale, int64_t T, int64_t C,
                  cudaStream_t s) {
  check_rows("rms_norm_fp8", T, C, {x, w, q});
  if (T == 0) return;
  launch_pdl(rms_norm_fp8_kernel, dim3(unsigned(T)), dim3(kThreads), 0, s, x, w, eps, C, static_cast<uint8_t*>(q),
             scale);
}

void swiglu_fp8(DType t, const void* gate, const void* up, int64_t ld_in, void* q, float* scale, int64_t T, int64_t F,
                cudaStream_t s) {
  check_rows("swiglu_fp8", T, F, {gate, up, q}, ld_in, 2);
  SI_CHECK(t == DType::F16 || t == DType::BF16, "swiglu_fp8 (CUDA): gate and up must be F16 or BF16, got {}",
           dtype_name(t));
  if (T == 0) return;
  dispatch_float_type(t, "swiglu_fp8", [&](auto tag) {
    using E = decltype(tag);
    if constexpr (!std::is_same_v<E, float>)
      launch_pdl(swiglu_fp8_kernel<E>, dim3(unsigned(T)), dim3(kThreads), 0, s, static_cast<const E*>(gate),
                 static_cast<const E*>(up), ld_in, F, static_cast<uint8_t*>(q), scale);
  });
}

}  // namespace si::cuda
