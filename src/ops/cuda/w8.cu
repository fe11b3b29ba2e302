// ops/cuda/w8.cu — int8 rows with one fp32 scale each (see w8.h): quantization at upload, the
// embedding lookup, the GEMV of a greedy step's LM head (selected rows for constrained decoding:
// matmul_rows.cu's kernels, shared with the FP16 head).
//
// The GEMV is gemv.cu's design (one warp per weight row, kUnroll 16-byte streaming loads in flight
// per lane, x through L1, fp32 accumulation, launched with PDL) with 16 int8 weights per load. A
// byte becomes an exact float with one PRMT and one FADD (bias to unsigned, drop it into the
// mantissa of 2^23, subtract 2^23 + 128) rather than an I2F, whose throughput on sm_90 (16 per
// clock per SM) would be close to what streaming the weights at HBM speed needs. The row's scale
// is applied once, to the warp's sum.
#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/w8.h"

namespace si::cuda {
namespace {

constexpr int kWarps = 8;   // weight rows per block
constexpr int kUnroll = 4;  // 16-byte weight loads in flight per lane (a 2048-wide row: all of it)

// One block per row.
template <typename T>
__global__ void quantize_kernel(const T* src, int64_t K, int8_t* q, float* scale) {
  const T* r = src + int64_t(blockIdx.x) * K;
  int8_t* qr = q + int64_t(blockIdx.x) * K;
  float m = 0.0f;
  for (int64_t c = threadIdx.x; c < K; c += blockDim.x) m = fmaxf(m, fabsf(to_f32(r[c])));
  m = block_max(m);
  const float inv = m > 0.0f ? 127.0f / m : 0.0f;
  for (int64_t c = threadIdx.x; c < K; c += blockDim.x)
    qr[c] = int8_t(__float2int_rn(fminf(fmaxf(to_f32(r[c]) * inv, -127.0f), 127.0f)));
  if (threadIdx.x == 0) scale[blockIdx.x] = m / 127.0f;
}

__global__ void dequantize_kernel(const int8_t* q, const float* scale, int64_t K, int64_t row0, int64_t n,
                                  __half* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * K) return;
  const int64_t r = row0 + i / K;
  out[i] = __float2half_rn(float(q[row0 * K + i]) * scale[r]);
}

template <typename To>
__global__ void embedding_kernel(const int8_t* q, const float* scale, int64_t K, const int32_t* ids, To* out) {
  const int64_t t = blockIdx.y, id = ids[t];
  const float sc = scale[id];
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < K; c += int64_t(gridDim.x) * blockDim.x)
    out[t * K + c] = from_f32<To>(float(q[id * K + c]) * sc);
}

// Four int8 weights (one 32-bit word) to exact floats.
__device__ __forceinline__ void int8x4_to_f32(uint32_t w, float* f) {
  const uint32_t u = w ^ 0x80808080u;  // q + 128 in each byte
#pragma unroll
  for (int i = 0; i < 4; ++i) f[i] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7440u + unsigned(i))) - 8388736.0f;
}

template <int MR>
__global__ void __launch_bounds__(kWarps * 32) w8_gemv_kernel(const __half* __restrict__ x, int M, int K,
                                                              const int8_t* __restrict__ q,
                                                              const float* __restrict__ scale, int64_t N,
                                                              float* __restrict__ y) {
  pdl_trigger();  // the argmax after the head may be scheduled (it waits for y)
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int lane = int(threadIdx.x) & 31;
  if (n >= N) return;
  const int chunks = K / 16;  // 16-byte chunks of a row
  const uint4* wr = reinterpret_cast<const uint4*>(q + n * K);
  float acc[MR];
#pragma unroll
  for (int m = 0; m < MR; ++m) acc[m] = 0.0f;
  bool waited = false;
  for (int c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c < chunks) wv[u] = __ldcs(wr + c);
    }
    // PDL: weights are in flight while the kernel before (the final norm) finishes; x only after.
    if (!waited) {
      pdl_wait();
      waited = true;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c >= chunks) break;
      float wf[16];
      int8x4_to_f32(wv[u].x, wf);
      int8x4_to_f32(wv[u].y, wf + 4);
      int8x4_to_f32(wv[u].z, wf + 8);
      int8x4_to_f32(wv[u].w, wf + 12);
#pragma unroll
      for (int m = 0; m < MR; ++m) {
        if (m >= M) break;
        const uint4* xr = reinterpret_cast<const uint4*>(x + int64_t(m) * K) + 2 * c;
        float xf[8];
        half8_to_f32(__ldg(xr), xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[m] += wf[i] * xf[i];
        half8_to_f32(__ldg(xr + 1), xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[m] += wf[8 + i] * xf[i];
      }
    }
  }
  if (!waited) pdl_wait();
  const float sc = scale[n];
#pragma unroll
  for (int m = 0; m < MR; ++m) {
    const float v = warp_sum(acc[m]);
    if (lane == 0 && m < M) y[int64_t(m) * N + n] = v * sc;
  }
}

}  // namespace

void w8_quantize(DType src_t, const void* src, int64_t N, int64_t K, int8_t* q, float* scale, cudaStream_t s) {
  SI_CHECK(N >= 0 && N < (int64_t(1) << 31) && K > 0, "w8_quantize: bad shape ({}, {})", N, K);
  if (N == 0) return;
  dispatch_float_type(src_t, "w8_quantize", [&](auto tag) {
    using T = decltype(tag);
    quantize_kernel<T><<<unsigned(N), 256, 0, s>>>(static_cast<const T*>(src), K, q, scale);
  });
  SI_CUDA_LAUNCHED("w8 quantize_kernel");
}

void w8_dequantize(const W8Weight& w, int64_t row0, int64_t n, void* out, cudaStream_t s) {
  SI_CHECK(row0 >= 0 && n >= 0 && row0 + n <= w.N, "w8_dequantize: rows [{}, {}) outside the {} of the matrix", row0,
           row0 + n, w.N);
  if (n == 0) return;
  dequantize_kernel<<<blocks_for(n * w.K, 256), 256, 0, s>>>(w.q, w.scale, w.K, row0, n, static_cast<__half*>(out));
  SI_CUDA_LAUNCHED("w8 dequantize_kernel");
}

void w8_embedding(const W8Weight& w, const int32_t* ids, int64_t T, DType out_t, void* out, cudaStream_t s) {
  if (T == 0) return;
  SI_CHECK(T < 65536, "w8_embedding: {} tokens in one launch (at most 65535)", T);
  const dim3 grid(blocks_for(w.K, 256), unsigned(T));
  if (out_t == DType::F32)
    embedding_kernel<float><<<grid, 256, 0, s>>>(w.q, w.scale, w.K, ids, static_cast<float*>(out));
  else if (out_t == DType::F16)
    embedding_kernel<__half><<<grid, 256, 0, s>>>(w.q, w.scale, w.K, ids, static_cast<__half*>(out));
  else
    fail("w8_embedding: output must be F32 or F16, got {}", dtype_name(out_t));
  SI_CUDA_LAUNCHED("w8 embedding_kernel");
}

bool w8_gemv_fits(int64_t M, int64_t K) { return M >= 1 && M <= kW8GemvMaxRows && K % 16 == 0 && K <= (1 << 30); }

void w8_gemv(const void* x, int64_t M, const W8Weight& w, float* y, cudaStream_t s) {
  SI_CHECK(w8_gemv_fits(M, w.K), "w8_gemv: needs 1..{} rows and K a multiple of 16; got M={}, K={}", kW8GemvMaxRows,
           M, w.K);
  SI_CHECK(aligned16({x, w.q}),
           "w8_gemv: x and the weights must be 16-byte aligned");
  if (w.N == 0) return;
  auto* k = M == 1 ? w8_gemv_kernel<1>
            : M == 2 ? w8_gemv_kernel<2>
            : M <= 4 ? w8_gemv_kernel<4>
            : M <= 8 ? w8_gemv_kernel<8>
                     : w8_gemv_kernel<16>;
  launch_pdl(k, blocks_for(w.N, kWarps), kWarps * 32, 0, s, static_cast<const __half*>(x), int(M), int(w.K), w.q,
             w.scale, w.N, y);
  SI_CUDA_LAUNCHED("w8_gemv_kernel");
}

}  // namespace si::cuda
