// ops/cuda/w4a16_v3.cu — W4A16 kernel 3, for decode batches (M <= 8): the same weight layout and
// arithmetic as kernel 2 (w4a16.h, w4a16_v2.cu), organised like a GEMV instead of a persistent loop
// over tiles. Kernel 2 at M = 1 on the H100 was latency-bound (ncu: 26-31 % of DRAM peak, 16-20
// warps per SM, limited by registers): each warp kept two stages of loads and looped. Here:
// - Each warp owns one slice of S consecutive 64-input chunks of one 16-row tile and requests all
//   S of its 16-byte weight loads (and their scale/zero words, one pair per 128-input group) at
//   once, before anything else: no loop, no second stage, 42-50 registers, 32-40 warps per SM.
// - P = K / (64 S) warps split a tile's inputs and reduce through shared memory; a block holds T
//   tiles (P * T warps). The grid is one block per T tiles, not persistent: the hardware backfills
//   SMs as blocks finish (gate|up at M = 1: 1024 blocks of 8 warps).
// - After pdl_wait, with S = 2 each lane loads its own x fragments into registers; with S = 4 or 8
//   the block stages x (M, K) in shared memory (registers would not fit). Staging cost 0.4-0.6 us
//   a call on the small shapes (q|k|v 3.16 vs 2.74 us, o 2.93 vs 2.30). The threads that write y
//   read the old y (accumulate) at the same time.
// - Small blocks would let the next call's blocks (PDL) start and load their weights during this
//   call; measured, that gives nothing (one block per SM, forced: o 2.23 vs 2.30 us, q|k|v worse
//   only where 192 tiles need a second wave): the part after pdl_wait sets the time.
// Groups must hold whole 128-input pairs of chunks (G % 128 == 0); else kernel 2 or 1 runs.
#include <algorithm>

#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/w4a16_common.cuh"
#include "ops/cuda/w4a16_v2.h"
#include "ops/cuda/w4a16_v3.h"

namespace si::cuda::v3 {
namespace {

using w4::mma16816;
using w4::q_minus_z;
using w4::scale_f32;
using w4::z_of;

constexpr int kSmemPad = 8;  // halves per staged x row (16 bytes: rows fall in different banks)
constexpr int kMaxSmem = 200 * 1024;
int g_force_s = 0;
int g_auto_rows = 8;
int g_variant = 0;  // force_variant

// Largest block: 32 warps per tile, 16 for S = 8 (its 32 weight registers a lane need more than
// the 64 registers a thread of a 1024-thread block may have).
__host__ __device__ constexpr int max_warps(int S) { return S >= 8 ? 16 : 32; }

// S chunks per warp (loads in flight per lane), NB batch tiles of 8 rows (M <= 8 * NB). kRegX:
// each lane loads its own x fragments from global memory (L2) into registers instead of the block
// staging x in shared memory (one barrier and a shared-memory round trip less after pdl_wait).
template <int S, int NB, bool kRegX, typename Ty>
__global__ void __launch_bounds__(max_warps(S) * 32) w4a16_v3_kernel(const uint4* __restrict__ wq, const uint32_t* __restrict__ sz,
                                                        const __half* __restrict__ x, int M, int K, int N, int G, int P,
                                                        int T, Ty* __restrict__ y, int64_t ldy, bool accumulate) {
  extern __shared__ uint4 smem[];  // x (unless kRegX): (M, K + kSmemPad) halves; then red: (P * T, NB * 4, 32) floats
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
  const int r = lane >> 2, q = lane & 3;
  const int p = warp % P, tt = warp / P;
  const int chunks = K / 64, tiles = N / 16;
  const int nt = int(blockIdx.x) * T + tt;
  const int c0 = p * S;
  const int n_r = nt * 16 + r;
  uint4 w[S];
  uint32_t s0[S / 2], s8[S / 2];  // sz words of rows r and r+8, one per chunk pair (one group)
  if (nt < tiles) {
    const uint4* wt = wq + (int64_t(nt) * chunks + c0) * 32 + lane;
#pragma unroll
    for (int u = 0; u < S; ++u)
      if (c0 + u < chunks) w[u] = __ldg(wt + u * 32);
#pragma unroll
    for (int u = 0; u < S; u += 2)
      if (c0 + u < chunks) {
        const int64_t g = int64_t(c0 + u) * 64 / G;
        s0[u / 2] = __ldg(sz + g * N + n_r);
        s8[u / 2] = __ldg(sz + g * N + n_r + 8);
      }
  }
  // Launched as a dependent (PDL): the weights above are constants; x and y are the stream's
  // from here on.
  pdl_trigger();
  pdl_wait();
  const int64_t xs_ld = K + kSmemPad;
  __half* xs = reinterpret_cast<__half*>(smem);
  float* red = reinterpret_cast<float*>(kRegX ? smem : smem + M * xs_ld / 8);
  uint4 xr[kRegX ? NB : 1][kRegX ? S : 1][2];
  if constexpr (kRegX) {
#pragma unroll
    for (int b = 0; b < NB; ++b)
#pragma unroll
      for (int u = 0; u < S; ++u) {
        const int m = b * 8 + r;
        xr[b][u][0] = xr[b][u][1] = make_uint4(0, 0, 0, 0);
        if (m < M && nt < tiles && c0 + u < chunks) {
          const uint4* xp = reinterpret_cast<const uint4*>(x + int64_t(m) * K + (c0 + u) * 64 + q * 16);
          xr[b][u][0] = __ldg(xp);
          xr[b][u][1] = __ldg(xp + 1);
        }
      }
  } else {
    const int per_row = K / 8;
    for (int i = int(threadIdx.x); i < M * per_row; i += int(blockDim.x)) {
      const int m = i / per_row, j = i % per_row;
      smem[m * (xs_ld / 8) + j] = __ldg(reinterpret_cast<const uint4*>(x) + int64_t(m) * per_row + j);
    }
  }
  // Output element e of the block: batch row m = e / (16 T), row n = blockIdx.x * 16 T + e % (16 T)
  // (consecutive threads, consecutive n). The first one per thread reads its old y now.
  const int outs = 16 * T * M;
  const int n_blk = int(blockIdx.x) * 16 * T;
  auto y_at = [&](int e) { return y + int64_t(e / (16 * T)) * ldy + n_blk + e % (16 * T); };
  const int e0 = int(threadIdx.x);
  const bool e0_ok = e0 < outs && n_blk + e0 % (16 * T) < N;
  float y_old = 0.0f;
  if (accumulate && e0_ok) y_old = to_f32(*y_at(e0));
  if constexpr (!kRegX) __syncthreads();

  float acc[NB][4] = {};
  if (nt < tiles) {
    const __half2 k960 = __half2half2(__ushort_as_half((unsigned short)0x6380));  // 960 = 1024 - 64
#pragma unroll
    for (int u = 0; u < S; ++u) {
      const int c = c0 + u;
      if (c >= chunks) break;
      const uint32_t v0 = s0[u / 2], v8 = s8[u / 2];
      const __half2 z_lo = z_of(v0), z_hi = __hsub2(k960, z_of(v8));  // -(64 + zero of row r+8)
      const float sc0 = scale_f32(v0), sc8 = scale_f32(v8);
      uint32_t a[4][4];
      q_minus_z(w[u].x, z_lo, z_hi, a[0]);
      q_minus_z(w[u].y, z_lo, z_hi, a[1]);
      q_minus_z(w[u].z, z_lo, z_hi, a[2]);
      q_minus_z(w[u].w, z_lo, z_hi, a[3]);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        uint4 x0, x1;
        if constexpr (kRegX) {
          x0 = xr[b][u][0];
          x1 = xr[b][u][1];
        } else {
          const int m = b * 8 + r;
          x0 = x1 = make_uint4(0, 0, 0, 0);
          if (m < M) {
            const uint4* xp = reinterpret_cast<const uint4*>(xs + m * xs_ld + c * 64 + q * 16);
            x0 = xp[0];
            x1 = xp[1];
          }
        }
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
#pragma unroll
  for (int b = 0; b < NB; ++b)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[(warp * NB * 4 + b * 4 + i) * 32 + lane] = acc[b][i];
  __syncthreads();
  // Accumulator element (b, i) of lane l: tile row l/4 (+8 for i >= 2), batch row b*8 + (l%4)*2 + (i & 1).
  // The P partial sums of an output are read eight at a time (unrolled, predicated), not one
  // shared-memory round trip after another (measured: no difference at P = 16, o 2.93 vs 2.88 us).
  for (int e = e0; e < outs; e += int(blockDim.x)) {
    const int m = e / (16 * T), t = (e % (16 * T)) / 16, rr = e % 16;
    if (n_blk + t * 16 >= N) continue;
    const int b = m / 8, i = (rr >= 8 ? 2 : 0) + (m & 1), l = (rr & 7) * 4 + (m % 8) / 2;
    const float* src = red + ((t * P) * NB * 4 + b * 4 + i) * 32 + l;
    float v = 0.0f;
    for (int p0 = 0; p0 < P; p0 += 8) {
      float part[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) part[j] = p0 + j < P ? src[(p0 + j) * NB * 4 * 32] : 0.0f;
      v += ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    }
    Ty* o = y_at(e);
    if (accumulate) v += e == e0 ? y_old : to_f32(*o);
    *o = from_f32<Ty>(v);
  }
}

template <int S, int NB, bool kRegX, typename Ty>
auto* kernel() {
  auto* k = &w4a16_v3_kernel<S, NB, kRegX, Ty>;
  static const bool raised = [k] {
    SI_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem));
    return true;
  }();
  (void)raised;
  return k;
}

template <int S, int NB, bool kRegX, typename Ty>
void go(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, int P, int T, size_t smem,
        cudaStream_t s) {
  const int64_t tiles = w.N / 16;
  launch_pdl(kernel<S, NB, kRegX, Ty>(), unsigned((tiles + T - 1) / T), unsigned(P * T * 32), smem, s,
             static_cast<const uint4*>(w.packed), static_cast<const uint32_t*>(w.sz), x, M, int(w.K), int(w.N),
             w.group_size, P, T, y, ldy, accumulate);
  SI_CUDA_LAUNCHED("w4a16_v3_kernel");
}

// Chunks per warp when not forced (H100, bench_cuda_matmul, us per call): 4 (x staged in shared
// memory) for the large weights at M = 1 (gate|up 9.4 vs 10.3 with 2, gate 5.0 vs 5.5; down and
// gate|up/gate are 16384+ tile-chunks), else 2 with x in registers (q|k|v 2.74 vs 4.04 with 4;
// at M = 4 and 8 also on gate: 5.6 vs 5.9, 5.9 vs 7.0).
// Dynamic shared memory that keeps a second block of this kernel off an SM (more than half an
// SM's), and the SM count: see go_nb.
size_t one_block_smem() {
  static const size_t v = [] {
    int dev = 0, per_sm = 0;
    SI_CUDA_CHECK(cudaGetDevice(&dev));
    SI_CUDA_CHECK(cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev));
    return std::min(size_t(kMaxSmem), size_t(per_sm) / 2 + 1024);
  }();
  return v;
}
int sm_count() {
  static const int v = [] {
    int dev = 0, n = 0;
    SI_CUDA_CHECK(cudaGetDevice(&dev));
    SI_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  return v;
}

int pick_s(const W4Weight& w, int M) { return M == 1 && w.N / 16 * (w.K / 64) >= 16384 ? 4 : 2; }

template <int NB, typename Ty>
bool go_nb(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, int S, cudaStream_t s) {
  const int64_t chunks = w.K / 64;
  while (S < 8 && (chunks + S - 1) / S > max_warps(S)) S *= 2;
  const int P = int((chunks + S - 1) / S);
  if (P > max_warps(S)) return false;
  const int T = std::max(1, 4 / P);  // at least 4 warps a block
  const bool reg_x = NB == 1 && S == 2 && !(g_variant & 2);
  size_t smem = (reg_x ? 0 : size_t(M) * size_t(w.K + kSmemPad) * 2) + size_t(P * T) * NB * 4 * 32 * 4;
  // At M = 1, a grid that fits the GPU one block per SM (o and q: 128 tiles of 16 warps) gets
  // enough shared memory that no SM holds two of its blocks; left to the scheduler, some SMs took
  // two while others idled (H100, o: 2.22 vs 2.49-2.53 us in two calls; q, k/v and down equal).
  // Not measured at more rows.
  const bool spread = M == 1 && (w.N / 16 + T - 1) / T <= sm_count();
  if (spread || (g_variant & 4)) smem = std::max(smem, one_block_smem());
  if (smem > size_t(kMaxSmem)) return false;
  if constexpr (NB == 1)
    if (reg_x) {
      go<2, 1, true, Ty>(w, x, M, y, ldy, accumulate, P, T, smem, s);
      return true;
    }
  if (S == 2) go<2, NB, false, Ty>(w, x, M, y, ldy, accumulate, P, T, smem, s);
  else if (S == 4) go<4, NB, false, Ty>(w, x, M, y, ldy, accumulate, P, T, smem, s);
  else go<8, NB, false, Ty>(w, x, M, y, ldy, accumulate, P, T, smem, s);
  return true;
}

}  // namespace

template <typename Ty>
bool launch(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, cudaStream_t s) {
  if (w.group_size % 128 != 0 || M < 1 || M > 16) return false;
  int S = g_force_s;
  if (S == 0) {
    // Kernel 2 stays faster at 16 rows (kernel 3's two batch tiles: 1.55-2x slower, down equal)
    // and, with K = 8192 (down), already at M = 4 (6.47 vs 6.73 us) and 8 (7.30 vs 7.89).
    if (M > g_auto_rows || (w.K > 4096 && M > 2)) return false;
    S = pick_s(w, M);
  }
  if (M <= 8) return go_nb<1, Ty>(w, x, M, y, ldy, accumulate, S, s);
  return go_nb<2, Ty>(w, x, M, y, ldy, accumulate, S, s);
}
template bool launch(const W4Weight&, const __half*, int, float*, int64_t, bool, cudaStream_t);
template bool launch(const W4Weight&, const __half*, int, __half*, int64_t, bool, cudaStream_t);

void force_split(int s) {
  SI_CHECK(s == 0 || s == 2 || s == 4 || s == 8, "w4a16 v3: {} chunks per warp (0, 2, 4 or 8)", s);
  g_force_s = s;
}

void auto_rows(int m) { g_auto_rows = m; }

void force_variant(int v) { g_variant = v; }

}  // namespace si::cuda::v3
