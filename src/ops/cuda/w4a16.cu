// ops/cuda/w4a16.cu — the W4A16 op (layout and reasoning in w4a16.h): dispatch to kernel 3
// (w4a16_v3.cu, decode batches) or kernel 2 (w4a16_v2.cu) where they apply, kernel 1 (here)
// otherwise; the act-order column gather and the dequantization to fp16 for cuBLAS.
//
// Kernel 1: one block of 8 warps per 16 output rows; the warps split the input dimension (64-input chunks,
// warp w takes chunks w, w+8, ...) and reduce through shared memory at the end. Each lane issues
// kUnroll 16-byte weight loads before using the first, which is what keeps HBM busy at batch 1.
// Activation rows come from L1/L2 (x is small next to the weights).
#include <cuda_fp16.h>

#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/w4a16.h"
#include "ops/cuda/w4a16_common.cuh"
#include "ops/cuda/w4a16_v2.h"
#include "ops/cuda/w4a16_v3.h"

namespace si::cuda {
namespace {

using w4::dequant2;
using w4::mma16816;
using w4::s_of;
using w4::z_of;

constexpr int kWarps = 8;
constexpr int kUnroll = 8;  // 16-byte weight loads in flight per lane
constexpr int kMaxRows = 64;
int g_kernel = 3;  // w4a16_select_kernel

// NB: batch tiles of 8 rows (M <= 8 * NB). All loads of a group of kUnroll chunks (weights, their
// scale/zero words and, for one batch tile, the activations) are issued before the first use, so
// a warp waits for memory once per group, not once per load. Independent accumulator chains
// (kChains) keep back-to-back mma instructions from waiting on each other.
template <int NB, typename Ty>
__global__ void __launch_bounds__(kWarps * 32) w4a16_kernel(const uint4* __restrict__ wq, const uint32_t* __restrict__ sz,
                                                            const __half* __restrict__ x, int M, int K, int N, int G,
                                                            Ty* __restrict__ y, int64_t ldy, bool accumulate) {
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
      Ty* o = y + int64_t(m) * ldy + n;
      *o = from_f32<Ty>(accumulate ? to_f32(*o) + v : v);
    }
  }
}

__global__ void permute_cols_kernel(const __half* x, const int32_t* perm, int64_t M, int64_t K, __half* out) {
  pdl_trigger();  // the W4A16 matmul after it may start loading its weights (it waits for out)
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= M * K) return;
  const int64_t m = i / K, j = i % K;
  out[i] = x[m * K + (perm ? perm[j] : j)];
}

// One thread per lane's 16 packed bytes: rows r and r+8 at its 16 consecutive inputs, stored as two
// 16-byte runs per row (the four lanes of a row write 128 contiguous bytes).
__global__ void dequantize_kernel(const uint4* packed, const uint32_t* sz, int64_t K, int64_t N, int G, __half* out) {
  const int64_t chunks = K / 64;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= N / 16 * chunks * 32) return;
  const int lane = int(idx % 32), r = lane >> 2, q = lane & 3;
  const int64_t c = (idx / 32) % chunks, nt = idx / (32 * chunks);
  const uint4 wv = packed[idx];
  const int64_t j0 = c * 64 + q * 16, n = nt * 16 + r, g = j0 / G;  // G % 16 == 0: one group
  const uint32_t s0 = sz[g * N + n], s8 = sz[g * N + n + 8];
  const __half2 z0 = z_of(s0), sc0 = s_of(s0), z8 = z_of(s8), sc8 = s_of(s8);
  const uint32_t ww[4] = {wv.x, wv.y, wv.z, wv.w};
  uint32_t a[8], b[8];  // rows r and r+8, inputs j0 + 2i, 2i + 1
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    a[2 * t] = dequant2(ww[t], 0, z0, sc0);
    a[2 * t + 1] = dequant2(ww[t], 8, z0, sc0);
    b[2 * t] = dequant2(ww[t], 4, z8, sc8);
    b[2 * t + 1] = dequant2(ww[t], 12, z8, sc8);
  }
  uint4* o0 = reinterpret_cast<uint4*>(out + n * K + j0);
  uint4* o8 = reinterpret_cast<uint4*>(out + (n + 8) * K + j0);
  o0[0] = make_uint4(a[0], a[1], a[2], a[3]);
  o0[1] = make_uint4(a[4], a[5], a[6], a[7]);
  o8[0] = make_uint4(b[0], b[1], b[2], b[3]);
  o8[1] = make_uint4(b[4], b[5], b[6], b[7]);
}

template <typename Ty>
void launch(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, cudaStream_t s) {
  const unsigned grid = unsigned(w.N / 16);
  const auto* wq = static_cast<const uint4*>(w.packed);
  const int K = int(w.K), N = int(w.N), G = w.group_size;
  if (M <= 8) w4a16_kernel<1, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, ldy, accumulate);
  else if (M <= 16) w4a16_kernel<2, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, ldy, accumulate);
  else if (M <= 32) w4a16_kernel<4, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, ldy, accumulate);
  else w4a16_kernel<8, Ty><<<grid, kWarps * 32, 0, s>>>(wq, w.sz, x, M, K, N, G, y, ldy, accumulate);
  SI_CUDA_LAUNCHED("w4a16_kernel");
}

template <typename Ty>
void launch_any(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, cudaStream_t s) {
  if (g_kernel == 3 && v3::launch(w, x, M, y, ldy, accumulate, s)) return;
  if (g_kernel >= 2 && v2::launch(w, x, M, y, ldy, accumulate, s)) return;
  launch(w, x, M, y, ldy, accumulate, s);
}

}  // namespace

void permute_cols(const W4Weight& w, const void* x, int64_t M, void* out, cudaStream_t s) {
  if (M == 0) return;
  permute_cols_kernel<<<blocks_for(M * w.K, 256), 256, 0, s>>>(static_cast<const __half*>(x), w.perm, M, w.K,
                                                               static_cast<__half*>(out));
  SI_CUDA_LAUNCHED("permute_cols_kernel");
}

void w4a16_select_kernel(int version) {
  SI_CHECK(version >= 1 && version <= 3, "w4a16: kernel {} does not exist (1, 2 or 3)", version);
  g_kernel = version;
}

int w4a16_kernel() { return g_kernel; }

void w4a16_matmul(const W4Weight& w, const void* x, int64_t M, DType y_t, void* y, bool accumulate, void* scratch,
                  cudaStream_t s, int64_t ldy) {
  SI_CHECK(w.packed && w.sz, "w4a16: weight not uploaded");
  SI_CHECK(y_t == DType::F32 || y_t == DType::F16, "w4a16: output must be F32 or F16, got {}", dtype_name(y_t));
  SI_CHECK(!w.perm || scratch, "w4a16: an act-order weight needs scratch space for the permuted activations");
  if (M == 0) return;
  const __half* xs = static_cast<const __half*>(x);
  if (w.perm) {
    permute_cols(w, x, M, scratch, s);
    xs = static_cast<const __half*>(scratch);
  }
  if (ldy == 0) ldy = w.N;
  SI_CHECK(ldy >= w.N, "w4a16: output row stride {} is below the weight's {} outputs", ldy, w.N);
  const size_t ysz = y_t == DType::F32 ? 4 : 2;
  for (int64_t m0 = 0; m0 < M; m0 += kMaxRows) {
    const int rows = int(M - m0 < kMaxRows ? M - m0 : kMaxRows);
    void* yb = static_cast<char*>(y) + size_t(m0 * ldy) * ysz;
    if (y_t == DType::F32) launch_any(w, xs + m0 * w.K, rows, static_cast<float*>(yb), ldy, accumulate, s);
    else launch_any(w, xs + m0 * w.K, rows, static_cast<__half*>(yb), ldy, accumulate, s);
  }
}

void w4_dequantize(const W4Weight& w, void* out, cudaStream_t s) {
  const int64_t lanes = w.N / 16 * (w.K / 64) * 32;
  dequantize_kernel<<<blocks_for(lanes, 256), 256, 0, s>>>(static_cast<const uint4*>(w.packed), w.sz, w.K, w.N,
                                                           w.group_size, static_cast<__half*>(out));
  SI_CUDA_LAUNCHED("dequantize_kernel");
}

}  // namespace si::cuda
