// ops/cuda/w4a16_v2.cu — W4A16 kernel 2: the same weight layout as kernel 1 (w4a16.h), changed where
// kernel 1 lost time at Llama-3.2-1B's shapes (H100, batch 1: 0.8-1.3 TB/s of weights):
// - Warps per block follow the shape (4, 8 or 16 splitting the input dimension of one 16-row tile):
//   a shape with few tiles (o, down: 128 tiles) gets 16, so more loads are in flight per tile; a wide
//   one (gate|up: 1024 tiles) 8. The grid is what fits on the GPU at once (persistent blocks loop
//   over tiles), and a block requests its next tile's first weights before reducing the current one.
// - Each warp's loads are double-buffered: the next kU chunks are requested before the current
//   ones are multiplied, so memory and arithmetic overlap inside a warp.
// - For M <= 8 the block stages x (M, K) in shared memory once, after its first weight loads are
//   on their way, instead of every lane keeping activation registers per load in flight.
// - Launched as a programmatic dependent launch (PDL): the blocks start and request their first
//   weights while the previous kernel (a norm, attention, SwiGLU or another matmul) finishes, and
//   wait for it before reading x; those kernels let it start early (pdl_trigger, common.cuh).
// - The group scale multiplies fp32 partial sums: nibbles become (q - zero) with one logic op and one
//   fp16 sub/fma per pair (w4a16_common.cuh), no fp16 multiply per weight. So groups must hold
//   whole 64-input chunks (G % 64 == 0); smaller groups go to kernel 1.
#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/w4a16_common.cuh"
#include "ops/cuda/w4a16_v2.h"

namespace si::cuda::v2 {
namespace {

using w4::as_h2;
using w4::mma16816;
using w4::q_minus_z;
using w4::scale_f32;
using w4::z_of;

constexpr int kU = 4;            // 16-byte weight loads per lane per stage; two stages in flight
constexpr int kSmemPad = 8;      // halves added to each staged x row: 16 bytes, so the rows that a
                                 // quarter-warp reads at one offset fall in different banks
constexpr int kMaxSmem = 200 * 1024;
int g_force_warps = 0;

struct Stage {
  uint4 w[kU];
  uint32_t s0[kU], s8[kU];  // sz words of rows r and r+8
};

__device__ __forceinline__ void load_stage(Stage& st, const uint4* wt, const uint32_t* sz, int c0, int step,
                                           int chunks, int N, int G, int n_r) {
#pragma unroll
  for (int u = 0; u < kU; ++u) {
    const int c = c0 + u * step;
    if (c < chunks) {
      st.w[u] = __ldg(wt + int64_t(c) * 32);
      const int64_t g = int64_t(c) * 64 / G;  // G % 64 == 0: the whole chunk is one group
      st.s0[u] = __ldg(sz + g * N + n_r);
      st.s8[u] = __ldg(sz + g * N + n_r + 8);
    }
  }
}

// acc[b] += scale * (W_chunk - zero) x_b^T for the stage's chunks. x fragments: with kSmemX from
// xs (row stride xs_ld halves), else from global x (row stride K).
template <int NB, bool kSmemX>
__device__ __forceinline__ void compute_stage(const Stage& st, int c0, int step, int chunks, const __half* xs,
                                              int64_t xs_ld, const __half* __restrict__ x, int M, int K, int r, int q,
                                              float (&acc)[NB][4]) {
  const __half2 k960 = __half2half2(__ushort_as_half((unsigned short)0x6380));  // 960 = 1024 - 64
#pragma unroll
  for (int u = 0; u < kU; ++u) {
    const int c = c0 + u * step;
    if (c >= chunks) break;
    const __half2 z_lo = z_of(st.s0[u]), z_hi = __hsub2(k960, z_of(st.s8[u]));  // -(64 + zero of row r+8)
    const float sc0 = scale_f32(st.s0[u]), sc8 = scale_f32(st.s8[u]);
    uint32_t a[4][4];
    q_minus_z(st.w[u].x, z_lo, z_hi, a[0]);
    q_minus_z(st.w[u].y, z_lo, z_hi, a[1]);
    q_minus_z(st.w[u].z, z_lo, z_hi, a[2]);
    q_minus_z(st.w[u].w, z_lo, z_hi, a[3]);
#pragma unroll
    for (int b = 0; b < NB; ++b) {
      const int m = b * 8 + r;
      uint4 x0 = make_uint4(0, 0, 0, 0), x1 = x0;
      if (m < M) {
        const uint4* xp = kSmemX ? reinterpret_cast<const uint4*>(xs + m * xs_ld + c * 64 + q * 16)
                                 : reinterpret_cast<const uint4*>(x + int64_t(m) * K + c * 64 + q * 16);
        x0 = kSmemX ? xp[0] : __ldg(xp);
        x1 = kSmemX ? xp[1] : __ldg(xp + 1);
      }
      // Two independent chains of two k-steps each, then the group scale per output row.
      float t0[4] = {0, 0, 0, 0}, t1[4] = {0, 0, 0, 0};
      mma16816(t0, a[0][0], a[0][1], a[0][2], a[0][3], x0.x, x0.y);
      mma16816(t1, a[1][0], a[1][1], a[1][2], a[1][3], x0.z, x0.w);
      mma16816(t0, a[2][0], a[2][1], a[2][2], a[2][3], x1.x, x1.y);
      mma16816(t1, a[3][0], a[3][1], a[3][2], a[3][3], x1.z, x1.w);
      acc[b][0] += sc0 * (t0[0] + t1[0]);
      acc[b][1] += sc0 * (t0[1] + t1[1]);
      acc[b][2] += sc8 * (t0[2] + t1[2]);
      acc[b][3] += sc8 * (t0[3] + t1[3]);
    }
  }
}

// Blocks loop over 16-row tiles (tile blockIdx.x, then + gridDim.x: the grid is what fits on the
// GPU at once); W warps split a tile's K/64 chunks (warp w: chunks w, w+W, ...), then reduce through
// shared memory, while the next tile's first loads are already in flight. NB batch tiles of 8 rows
// (M <= 8 * NB).
template <int NB, int W, typename Ty>
__global__ void __launch_bounds__(W * 32) w4a16_v2_kernel(const uint4* __restrict__ wq, const uint32_t* __restrict__ sz,
                                                          const __half* __restrict__ x, int M, int K, int N, int G,
                                                          Ty* __restrict__ y, int64_t ldy, bool accumulate) {
  constexpr bool kSmemX = NB == 1;
  extern __shared__ uint4 xs_buf[];  // kSmemX: (M, K + kSmemPad) halves
  __shared__ float red[W][NB * 4][32];
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
  const int r = lane >> 2, q = lane & 3;
  const int chunks = K / 64, tiles = N / 16;
  constexpr int kStep = W;        // chunk stride between a warp's loads
  constexpr int kRound = W * kU;  // chunks covered by one stage of all warps
  Stage sa, sb;
  int nt = int(blockIdx.x);
  load_stage(sa, wq + int64_t(nt) * chunks * 32 + lane, sz, warp, kStep, chunks, N, G, nt * 16 + r);
  // Launched as a dependent (PDL), the kernel gets here while the one before it still runs: the
  // weights above are constants; x and y belong to the stream's order from here on.
  pdl_trigger();
  pdl_wait();
  const __half* xs = reinterpret_cast<const __half*>(xs_buf);
  const int64_t xs_ld = K + kSmemPad;
  if constexpr (kSmemX) {
    // x rows into shared memory while the first weights are in flight (16-byte copies).
    const int per_row = K / 8;
    for (int i = int(threadIdx.x); i < M * per_row; i += W * 32) {
      const int m = i / per_row, j = i % per_row;
      xs_buf[m * (xs_ld / 8) + j] = __ldg(reinterpret_cast<const uint4*>(x) + int64_t(m) * per_row + j);
    }
    __syncthreads();
  }
  for (; nt < tiles; nt += int(gridDim.x)) {
    const uint4* wt = wq + int64_t(nt) * chunks * 32 + lane;
    const int n_r = nt * 16 + r;
    float acc[NB][4];
#pragma unroll
    for (int b = 0; b < NB; ++b) acc[b][0] = acc[b][1] = acc[b][2] = acc[b][3] = 0.0f;
    // Two stages in registers, named (not indexed) so they stay in registers.
    for (int c = warp; c < chunks; c += 2 * kRound) {
      if (c + kRound < chunks) load_stage(sb, wt, sz, c + kRound, kStep, chunks, N, G, n_r);
      compute_stage<NB, kSmemX>(sa, c, kStep, chunks, xs, xs_ld, x, M, K, r, q, acc);
      if (c + kRound >= chunks) break;
      if (c + 2 * kRound < chunks) load_stage(sa, wt, sz, c + 2 * kRound, kStep, chunks, N, G, n_r);
      compute_stage<NB, kSmemX>(sb, c + kRound, kStep, chunks, xs, xs_ld, x, M, K, r, q, acc);
    }
    const int next = nt + int(gridDim.x);
    if (next < tiles) load_stage(sa, wq + int64_t(next) * chunks * 32 + lane, sz, warp, kStep, chunks, N, G, next * 16 + r);
#pragma unroll
    for (int b = 0; b < NB; ++b)
#pragma unroll
      for (int i = 0; i < 4; ++i) red[warp][b * 4 + i][lane] = acc[b][i];
    __syncthreads();
    // Accumulator element (b, i) of lane l: output row nt*16 + l/4 (+8 for i >= 2), batch row
    // b*8 + (l%4)*2 + (i & 1).
    for (int e = int(threadIdx.x); e < NB * 4 * 32; e += W * 32) {
      const int b = e / 128, i = (e / 32) % 4, l = e % 32;
      float v = 0.0f;
#pragma unroll
      for (int wi = 0; wi < W; ++wi) v += red[wi][b * 4 + i][l];
      const int n = nt * 16 + (l >> 2) + (i >= 2 ? 8 : 0);
      const int m = b * 8 + (l & 3) * 2 + (i & 1);
      if (m < M) {
        Ty* o = y + int64_t(m) * ldy + n;
        *o = from_f32<Ty>(accumulate ? to_f32(*o) + v : v);
      }
    }
    __syncthreads();  // red is rewritten by the next tile
  }
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    SI_CUDA_CHECK(cudaGetDevice(&dev));
    SI_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
    return v;
  }();
  return n;
}

// Blocks of `kernel` that fit on the whole GPU at once (registers, shared memory), cached.
int resident_blocks(const void* kernel, int threads, size_t smem) {
  static std::mutex mu;
  static std::map<std::tuple<const void*, size_t>, int> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto [it, fresh] = cache.try_emplace({kernel, smem}, 0);
  if (fresh) {
    int per_sm = 0;
    SI_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem));
    it->second = std::max(1, per_sm) * sm_count();
  }
  return it->second;
}

// The kernel, its dynamic shared-memory limit raised once (before any graph capture of it).
template <int NB, int W, typename Ty>
auto* kernel() {
  auto* k = &w4a16_v2_kernel<NB, W, Ty>;
  static const bool raised = [k] {
    if (NB == 1) SI_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem));
    return true;
  }();
  (void)raised;
  return k;
}

template <int NB, int W, typename Ty>
void go(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, size_t smem, cudaStream_t s) {
  auto* k = kernel<NB, W, Ty>();
  const int64_t tiles = w.N / 16;
  const unsigned grid = unsigned(std::min<int64_t>(tiles, resident_blocks(reinterpret_cast<const void*>(k), W * 32, smem)));
  // As a programmatic dependent launch: this kernel's blocks may start (and request their first
  // weights) while the previous kernel finishes; they wait for it before touching x and y.
  launch_pdl(k, grid, W * 32, smem, s, static_cast<const uint4*>(w.packed), static_cast<const uint32_t*>(w.sz), x, M,
             int(w.K), int(w.N), w.group_size, y, ldy, accumulate);
  SI_CUDA_LAUNCHED("w4a16_v2_kernel");
}

// Warps per block (H100, Llama-3.2-1B shapes, M = 1 and 16): 16 while the tiles fit on the GPU in
// one wave of 16-warp blocks (o, down, q: 128 tiles; k/v: 32), 4 for wide shapes of many waves
// (gate|up: 1024 tiles; 10% faster than 8 at M = 16), else 8 (q|k|v: 192 tiles, gate: 512); at
// least 2 chunks per warp; W * NB <= 64 (the reduction's shared memory). The persistent grid
// takes the rest. Above 16 rows that middle case is left to kernel 1 (returns false): there
// kernel 2's 8-warp blocks hold 130+ registers a thread, one block per SM, and took 8.6 / 16.4 us
// at M = 32 on q|k|v / gate where kernel 1 took 6.3 / 11.6.
template <int NB, typename Ty>
bool go_nb(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, size_t smem, cudaStream_t s) {
  constexpr int kMaxW = NB <= 4 ? 16 : 8;
  int warps = g_force_warps;
  if (warps == 0) {
    const int64_t tiles = w.N / 16, chunks = w.K / 64;
    const int fit16 = resident_blocks(reinterpret_cast<const void*>(kernel<NB, kMaxW, Ty>()), kMaxW * 32, smem);
    warps = tiles <= fit16 ? kMaxW : tiles >= 4 * int64_t(sm_count()) ? 4 : 8;
    if (NB >= 4 && warps == 8) return false;
    while (warps > 4 && chunks < 2 * warps) warps /= 2;
  }
  if (warps >= 16 && kMaxW >= 16) go<NB, kMaxW, Ty>(w, x, M, y, ldy, accumulate, smem, s);
  else if (warps >= 8) go<NB, 8, Ty>(w, x, M, y, ldy, accumulate, smem, s);
  else go<NB, 4, Ty>(w, x, M, y, ldy, accumulate, smem, s);
  return true;
}

}  // namespace

template <typename Ty>
bool launch(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, cudaStream_t s) {
  if (w.group_size % 64 != 0 || M < 1 || M > 64) return false;
  const size_t smem = M <= 8 ? size_t(M) * size_t(w.K + kSmemPad) * 2 : 0;
  if (smem > size_t(kMaxSmem) - 16 * 1024) return false;  // (the reduction's static 16 KB beside it)
  if (M <= 8) return go_nb<1, Ty>(w, x, M, y, ldy, accumulate, smem, s);
  if (M <= 16) return go_nb<2, Ty>(w, x, M, y, ldy, accumulate, smem, s);
  if (M <= 32) return go_nb<4, Ty>(w, x, M, y, ldy, accumulate, smem, s);
  return go_nb<8, Ty>(w, x, M, y, ldy, accumulate, smem, s);
}
template bool launch(const W4Weight&, const __half*, int, float*, int64_t, bool, cudaStream_t);
template bool launch(const W4Weight&, const __half*, int, __half*, int64_t, bool, cudaStream_t);

void force_warps(int warps) {
  SI_CHECK(warps == 0 || warps == 4 || warps == 8 || warps == 16, "w4a16 v2: {} warps per block (0, 4, 8 or 16)",
           warps);
  g_force_warps = warps;
}

}  // namespace si::cuda::v2
