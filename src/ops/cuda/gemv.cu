// ops/cuda/gemv.cu — y = x W^T for the few activation rows of a decode step (M <= kGemvMaxRows).
//
// At batch 1 a Linear is a pass over its weights and nothing else, so the kernel is built to keep
// HBM busy: one warp per weight row (or per slice of one, below), each lane holding kUnroll 16-byte
// weight loads in flight (issued before the first is used, marked streaming so they do not push x
// out of L1), x read through L1 (every warp of a block reads the same x), fp32 accumulation, one
// warp reduction.
// - Long rows (K > 4096: down_proj's 8192) are split across kSplit warps of a block, so each warp
//   holds a whole 2048-wide slice's loads in flight at once; one warp per such row walked it in
//   four dependent rounds and ran 6 % behind cuBLAS. Split in 4: 14.1 us against cuBLAS's 15.6
//   (bench_cuda_matmul, H100, two calls; 2 and 8 warps per row measured within noise of 4).
// - gemv_swiglu_out: W = [Wg; Wu] (2F, K) and the block's warps stream gate rows j and up rows j
//   side by side, so the block writes h_j = silu(g_j) * u_j and the (2F) intermediate, its store
//   and the separate SwiGLU kernel are gone.
// H100, M = 1, weights from HBM (bench_cuda_matmul): QKV 5.4 us (2.3 TB/s) vs cuBLAS 7.0, o 4.1 vs
// 6.0, gate|up 23.5 vs 24.9, down (split) 14.1 vs 15.6. At M = 4 the x
// loads and conversions per weight chunk make it slower than cuBLAS (QKV 11.5 vs 7.4 us), so the
// runner uses it for one row only. Launched with PDL (launch_pdl, common.cuh).
#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/matmul.h"

namespace si::cuda {
namespace {

constexpr int kWarps = 8;     // warps per block
constexpr int kUnroll = 8;    // 16-byte weight loads in flight per lane
constexpr int kSplit = 4;     // warps per weight row when K > kSplitAbove
constexpr int kSplitAbove = 4096;

// MR: rows of x handled (M <= MR); T: storage of x and W; Ty: storage of y. KS warps share one
// weight row (each a contiguous K / KS slice); kSwiglu: output j of block b is
// silu(x Wg_j) * (x Wu_j), gate row j = b * O + r and up row j + N for the block's warps r, r + O.
template <typename T, int MR, typename Ty, int KS, bool kSwiglu>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const T* __restrict__ x, int M, int K,
                                                           const T* __restrict__ w, int64_t N, Ty* __restrict__ y,
                                                           bool accumulate) {
  constexpr int R = kWarps / KS;            // weight rows per block
  constexpr int O = kSwiglu ? R / 2 : R;    // outputs per block
  pdl_trigger();  // the kernel after may be scheduled (it waits for y)
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
  const int r = warp / KS, slice = warp % KS;
  const int64_t n = int64_t(blockIdx.x) * O + r % O;  // this warp's output column
  const int64_t row = kSwiglu && r >= O ? n + N : n;  // and its weight row
  const int per = K / 8 / KS;                         // 16-byte chunks of the slice (K % (8 KS) == 0)
  const int c_end = (slice + 1) * per;
  const uint4* wr = reinterpret_cast<const uint4*>(w + row * K);
  float acc[MR];
#pragma unroll
  for (int m = 0; m < MR; ++m) acc[m] = 0.0f;
  bool waited = false;
  for (int c0 = slice * per + lane; n < N && c0 < c_end; c0 += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c < c_end) wv[u] = __ldcs(wr + c);
    }
    // PDL: the first weight loads are in flight while the kernel before (the norm, attention)
    // finishes; x (and y, when accumulating) only after it has.
    if (!waited) {
      pdl_wait();
      waited = true;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c >= c_end) break;
      float wf[8];
      unpack8(wv[u], static_cast<const T*>(nullptr), wf);
#pragma unroll
      for (int m = 0; m < MR; ++m) {
        if (m >= M) break;
        float xf[8];
        unpack8(__ldg(reinterpret_cast<const uint4*>(x + int64_t(m) * K) + c), static_cast<const T*>(nullptr), xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[m] += wf[i] * xf[i];
      }
    }
  }
  if (!waited) pdl_wait();
  if constexpr (KS == 1 && !kSwiglu) {
#pragma unroll
    for (int m = 0; m < MR; ++m) {
      const float v = warp_sum(acc[m]);
      if (lane == 0 && m < M && n < N) {
        Ty* o = y + int64_t(m) * N + n;
        *o = from_f32<Ty>(accumulate ? to_f32(*o) + v : v);
      }
    }
  } else {
    __shared__ float part[kWarps][MR];  // each warp's sum, combined in a fixed order below
#pragma unroll
    for (int m = 0; m < MR; ++m) {
      const float v = warp_sum(acc[m]);
      if (lane == 0) part[warp][m] = v;
    }
    __syncthreads();
    const int o = int(threadIdx.x) % O, m = int(threadIdx.x) / O;
    const int64_t no = int64_t(blockIdx.x) * O + o;
    if (m >= M || m >= MR || no >= N) return;
    auto row_sum = [&](int rr) {
      float v = part[rr * KS][m];
      for (int sl = 1; sl < KS; ++sl) v += part[rr * KS + sl][m];
      return v;
    };
    Ty* out = y + int64_t(m) * N + no;
    if constexpr (kSwiglu) {
      // As gemv into fp16 gate | up followed by swiglu(): both sums rounded to T first.
      const float g = to_f32(from_f32<T>(row_sum(o))), u = to_f32(from_f32<T>(row_sum(o + O)));
      *out = from_f32<Ty>(silu_mul(g, u));
    } else {
      const float v = row_sum(o);
      *out = from_f32<Ty>(accumulate ? to_f32(*out) + v : v);
    }
  }
}

template <typename T, typename Ty, int KS, bool kSwiglu>
void launch_rows(const void* x, int M, int K, const void* w, int64_t N, void* y, bool accumulate, cudaStream_t s) {
  constexpr int O = kSwiglu ? kWarps / KS / 2 : kWarps / KS;
  auto* k = M == 1   ? gemv_kernel<T, 1, Ty, KS, kSwiglu>
            : M == 2 ? gemv_kernel<T, 2, Ty, KS, kSwiglu>
                     : gemv_kernel<T, kGemvMaxRows, Ty, KS, kSwiglu>;
  launch_pdl(k, blocks_for(N, O), kWarps * 32, 0, s, static_cast<const T*>(x), M, K, static_cast<const T*>(w), N,
             static_cast<Ty*>(y), accumulate);
  SI_CUDA_LAUNCHED("gemv_kernel");
}

template <typename T, typename Ty>
void launch(const void* x, int M, int K, const void* w, int64_t N, void* y, bool accumulate, cudaStream_t s) {
  if (K > kSplitAbove && K % (8 * kSplit) == 0) launch_rows<T, Ty, kSplit, false>(x, M, K, w, N, y, accumulate, s);
  else launch_rows<T, Ty, 1, false>(x, M, K, w, N, y, accumulate, s);
}

}  // namespace

bool gemv_fits(DType ab_t, int64_t M, int64_t K) {
  return (ab_t == DType::F16 || ab_t == DType::BF16) && M >= 1 && M <= kGemvMaxRows && K % 8 == 0 && K <= (1 << 30);
}

void gemv(DType ab_t, const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y,
          bool accumulate, cudaStream_t s) {
  SI_CHECK(gemv_fits(ab_t, M, K), "gemv (CUDA): needs F16/BF16, 1..{} rows and K a multiple of 8; got {}, M={}, K={}",
           kGemvMaxRows, dtype_name(ab_t), M, K);
  SI_CHECK(y_t == DType::F32 || y_t == ab_t, "gemv (CUDA): output must be F32 or {}, got {}", dtype_name(ab_t),
           dtype_name(y_t));
  SI_CHECK(aligned16({x, w}),
           "gemv (CUDA): x and w must be 16-byte aligned");
  if (N == 0) return;
  const int m = int(M), k = int(K);
  if (ab_t == DType::F16) {
    if (y_t == DType::F32) launch<__half, float>(x, m, k, w, N, y, accumulate, s);
    else launch<__half, __half>(x, m, k, w, N, y, accumulate, s);
  } else {
    if (y_t == DType::F32) launch<__nv_bfloat16, float>(x, m, k, w, N, y, accumulate, s);
    else launch<__nv_bfloat16, __nv_bfloat16>(x, m, k, w, N, y, accumulate, s);
  }
}

void gemv_swiglu_out(DType t, const void* x, int64_t M, int64_t K, const void* w_gate_up, int64_t F, void* h,
                     cudaStream_t s) {
  SI_CHECK(gemv_fits(t, M, K), "gemv_swiglu_out (CUDA): needs F16/BF16, 1..{} rows and K a multiple of 8; got {}, "
           "M={}, K={}", kGemvMaxRows, dtype_name(t), M, K);
  SI_CHECK(aligned16({x, w_gate_up}),
           "gemv_swiglu_out (CUDA): x and w must be 16-byte aligned");
  if (F == 0) return;
  if (t == DType::F16) launch_rows<__half, __half, 1, true>(x, int(M), int(K), w_gate_up, F, h, false, s);
  else launch_rows<__nv_bfloat16, __nv_bfloat16, 1, true>(x, int(M), int(K), w_gate_up, F, h, false, s);
}

}  // namespace si::cuda
