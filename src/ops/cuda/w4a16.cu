// ops/cuda/w4a16.cu — the W4A16 kernels (layout and reasoning in w4a16.h).
//
// One block of 8 warps per 16 output rows; the warps split the input dimension (64-input chunks,
// warp w takes chunks w, w+8, ...) and reduce through shared memory at the end. Each lane issues
// kUnroll 16-byte weight loads before using the first, which is what keeps HBM busy at batch 1.
// Activation rows come from L1/L2 (x is small next to the weights).
#include <cuda_fp16.h>

#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/w4a16.h"

namespace si::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kUnroll = 8;  // 16-byte weight loads in flight per lane
constexpr int kMaxRows = 64;

__device__ __forceinline__ uint32_t dequant2(uint32_t w, int shift, __half2 z2, __half2 s2) {
  // Nibbles at bits shift and shift+16 become fp16 1024+q (exponent bits 0x6400), then (q - z) * s.
  uint32_t h = ((w >> shift) & 0x000F000Fu) | 0x64006400u;
  __half2 v = __hmul2(__hsub2(*reinterpret_cast<__half2*>(&h), z2), s2);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ void mma16816(float* c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ __half2 z_of(uint32_t sz) { return __half2half2(__ushort_as_half((unsigned short)(sz & 0xffffu))); }
__device__ __forceinline__ __half2 s_of(uint32_t sz) { return __half2half2(__ushort_as_half((unsigned short)(sz >> 16))); }

// NB: batch tiles of 8 rows (M <= 8 * NB). All loads of a group of kUnroll chunks (weights, their
// scale/zero words and, for one batch tile, the activations) are issued before the first use, so
// a warp waits for memory once per group, not once per load. Independent accumulator chains
// (kChains) keep back-to-back mma instructions from waiting on each other.
template <int NB, typename Ty>
__global__ void __launch_bounds__(kWarps * 32) w4a16_kernel(const uint4* __restrict__ wq, const uint32_t* __restrict__ sz,
                                                            const __half* __restrict__ x, int M, int K, int N, int G,
                                                            Ty* __restrict__ y, bool accumulate) {
  constexpr int kU = NB == 1 ? 4 : kUnroll;
  constexpr int kChains = NB == 1 ? 4 : NB == 2 ? 2 : 1;
  constexpr bool kPrefetchX = NB == 1;
  __shared__ float red[kWarps][NB * 4][32];
  const int nt = int(blockIdx.x);
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
  const int r = lane >> 2, q = lane & 3;
  const int chunks = K / 64;
  const uint4* wt = wq + int64_t(nt) * chunks * 32 + lane;
  const int n_r = nt * 16 + r;
  float acc[NB][kChains][4];
#pragma unroll
  for (int b = 0; b < NB; ++b)
#pragma unroll
    for (int h = 0; h < kChains; ++h) acc[b][h][0] = acc[b][h][1] = acc[b][h][2] = acc[b][h][3] = 0.0f;

  for (int c0 = warp; c0 < chunks; c0 += kWarps * kU) {
    uint4 w[kU], xa[kPrefetchX ? kU : 1], xb[kPrefetchX ? kU : 1];
    uint32_t s0[kU], s8[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int c = c0 + u * kWarps;
      if (c < chunks) {
        w[u] = __ldg(wt + int64_t(c) * 32);
        const int64_t g = (c * 64 + q * 16) / G;
        s0[u] = __ldg(sz + g * N + n_r);
        s8[u] = __ldg(sz + g * N + n_r + 8);
        if constexpr (kPrefetchX) {
          xa[u] = xb[u] = make_uint4(0, 0, 0, 0);
          if (r < M) {
            const uint4* xp = reinterpret_cast<const uint4*>(x + int64_t(r) * K + c * 64 + q * 16);
            xa[u] = __ldg(xp);
            xb[u] = __ldg(xp + 1);
          }
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int c = c0 + u * kWarps;
      if (c >= chunks) break;
      const __half2 z0 = z_of(s0[u]), sc0 = s_of(s0[u]), z8 = z_of(s8[u]), sc8 = s_of(s8[u]);
      uint32_t a[4][4];
      const uint32_t ww[4] = {w[u].x, w[u].y, w[u].z, w[u].w};
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        a[t][0] = dequant2(ww[t], 0, z0, sc0);
        a[t][1] = dequant2(ww[t], 4, z8, sc8);
        a[t][2] = dequant2(ww[t], 8, z0, sc0);
        a[t][3] = dequant2(ww[t], 12, z8, sc8);
      }
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        uint4 x0, x1;
        if constexpr (kPrefetchX) {
          x0 = xa[u];
          x1 = xb[u];
        } else {
          const int m = b * 8 + r;
          x0 = x1 = make_uint4(0, 0, 0, 0);
          if (m < M) {
            const uint4* xp = reinterpret_cast<const uint4*>(x + int64_t(m) * K + c * 64 + q * 16);
            x0 = __ldg(xp);
            x1 = __ldg(xp + 1);
          }
        }
        mma16816(acc[b][0 % kChains], a[0][0], a[0][1], a[0][2], a[0][3], x0.x, x0.y);
        mma16816(acc[b][1 % kChains], a[1][0], a[1][1], a[1][2], a[1][3], x0.z, x0.w);
        mma16816(acc[b][2 % kChains], a[2][0], a[2][1], a[2][2], a[2][3], x1.x, x1.y);
        mma16816(acc[b][3 % kChains], a[3][0], a[3][1], a[3][2], a[3][3], x1.z, x1.w);
      }
    }
  }
#pragma unroll
  for (int b = 0; b < NB; ++b)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float v = 0.0f;
#pragma unroll
      for (int h = 0; h < kChains; ++h) v += acc[b][h][i];
      red[warp][b * 4 + i][lane] = v;
    }
  __syncthreads();
  // Accumulator element (b, i) of lane l: output row nt*16 + l/4 (+8 for i >= 2), batch row
  // b*8 + (l%4)*2 + (i & 1).
  for (int e = int(threadIdx.x); e < NB * 4 * 32; e += kWarps * 32) {
    const int b = e / 128, i = (e / 32) % 4, l = e % 32;
    float v = 0.0f;
#pragma unroll
    for (int wi = 0; wi < kWarps; ++wi) v += red[wi][b * 4 + i][l];
    const int n = nt * 16 + (l >> 2) + (i >= 2 ? 8 : 0);
    const int m = b * 8 + (l & 3) * 2 + (i & 1);
    if (m < M) {
      Ty* o = y + int64_t(m) * N + n;
      *o = from_f32<Ty>(accumulate ? to_f32(*o) + v : v);
    }
  }
}

__global__ void permute_cols_kernel(const __half* x, const int32_t* perm, int64_t M, int64_t K, __half* out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= M * K) return;
  const int64_t m = i / K, j = i % K;
  out[i] = x[m * K + (perm ? perm[j] : j)];
}

// One thread per packed 32-bit word: 8 weights of rows r, r+8 at 4 inputs.
__global__ void dequantize_kernel(const uint32_t* packed, const uint32_t* sz, int64_t K, int64_t N, int G, __half* out) {
  const int64_t chunks = K / 64;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= N / 16 * chunks * 128) return;
  const int t = int(idx % 4), lane = int((idx / 4) % 32);
  const int64_t c = (idx / 128) % chunks, nt = idx / (128 * chunks);
  const int r = lane >> 2, q = lane & 3;
  const uint32_t w = packed[idx];
  const int64_t j = c * 64 + q * 16 + 4 * t;
  const int64_t n = nt * 16 + r;
  const uint32_t s0 = sz[(j / G) * N + n], s8 = sz[(j / G) * N + n + 8];
  const uint32_t lo0 = dequant2(w, 0, z_of(s0), s_of(s0)), lo8 = dequant2(w, 4, z_of(s8), s_of(s8));
  const uint32_t hi0 = dequant2(w, 8, z_of(s0), s_of(s0)), hi8 = dequant2(w, 12, z_of(s8), s_of(s8));
  auto put = [&](int64_t row, int64_t col, uint32_t two) {  // two fp16: inputs col, col + 1
    out[row * K + col] = __ushort_as_half((unsigned short)(two & 0xffffu));
    out[row * K + col + 1] = __ushort_as_half((unsigned short)(two >> 16));
  };
  put(n, j, lo0);
  put(n + 8, j, lo8);
  put(n, j + 2, hi0);
  put(n + 8, j + 2, hi8);
}

template <typename Ty>
void launch(const W4Weight& w, const __half* x, int M, Ty* y, bool accumulate, cudaStream_t s) {
  const unsigned grid = unsigned(w.N / 16);
  const auto* wq = static_cast<const uint4*>(w.packed);
  const int K = int(w.K), N = int(w.N), G = w.group_size;
  if (M <= 8) w4a16_kernel<1, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, accumulate);
  else if (M <= 16) w4a16_kernel<2, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, accumulate);
  else if (M <= 32) w4a16_kernel<4, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, accumulate);
  else w4a16_kernel<8, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, accumulate);
  SI_CUDA_LAUNCHED("w4a16_kernel");
}

}  // namespace

void permute_cols(const W4Weight& w, const void* x, int64_t M, void* out, cudaStream_t s) {
  if (M == 0) return;
  permute_cols_kernel<<<blocks_for(M * w.K, 256), 256, 0, s>>>(static_cast<const __half*>(x), w.perm, M, w.K,
                                                               static_cast<__half*>(out));
  SI_CUDA_LAUNCHED("permute_cols_kernel");
}

void w4a16_matmul(const W4Weight& w, const void* x, int64_t M, DType y_t, void* y, bool accumulate, void* scratch,
                  cudaStream_t s) {
  SI_CHECK(w.packed && w.sz, "w4a16: weight not uploaded");
  SI_CHECK(y_t == DType::F32 || y_t == DType::F16, "w4a16: output must be F32 or F16, got {}", dtype_name(y_t));
  SI_CHECK(!w.perm || scratch, "w4a16: an act-order weight needs scratch space for the permuted activations");
  if (M == 0) return;
  const __half* xs = static_cast<const __half*>(x);
  if (w.perm) {
    permute_cols(w, x, M, scratch, s);
    xs = static_cast<const __half*>(scratch);
  }
  const size_t ysz = y_t == DType::F32 ? 4 : 2;
  for (int64_t m0 = 0; m0 < M; m0 += kMaxRows) {
    const int rows = int(M - m0 < kMaxRows ? M - m0 : kMaxRows);
    void* yb = static_cast<char*>(y) + size_t(m0 * w.N) * ysz;
    if (y_t == DType::F32) launch(w, xs + m0 * w.K, rows, static_cast<float*>(yb), accumulate, s);
    else launch(w, xs + m0 * w.K, rows, static_cast<__half*>(yb), accumulate, s);
  }
}

void w4_dequantize(const W4Weight& w, void* out, cudaStream_t s) {
  const int64_t words = w.N / 16 * (w.K / 64) * 128;
  dequantize_kernel<<<blocks_for(words, 256), 256, 0, s>>>(static_cast<const uint32_t*>(w.packed), w.sz, w.K, w.N,
                                                           w.group_size, static_cast<__half*>(out));
  SI_CUDA_LAUNCHED("dequantize_kernel");
}

}  // namespace si::cuda
