// ops/cuda/gemv.cu — y = x W^T for the few activation rows of a decode step (M <= kGemvMaxRows).
//
// At batch 1 a Linear is a pass over its weights and nothing else, so the kernel is built to keep
// HBM busy: one warp per weight row, each lane holding kUnroll 16-byte weight loads in flight
// (issued before the first is used, marked streaming so they do not push x out of L1), x read
// through L1 (every warp of a block reads the same x), fp32 accumulation, one warp reduction.
// H100, M = 1, weights from HBM (bench_cuda_matmul, two runs): QKV 6.5-6.6 us (1.9 TB/s) vs cuBLAS
// 7.0, o 5.3 vs 6.3, gate|up 24.9-25.1 vs 25.2-25.3, down 16.5-17.2 vs 16.2. At M = 4 the x loads
// and conversions per weight chunk make it slower than cuBLAS (QKV 11.5 vs 7.4 us), so the runner
// uses it for one row of K <= 4096 only. Launched with PDL (see launch()).
#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/matmul.h"

namespace si::cuda {
namespace {

constexpr int kWarps = 8;   // weight rows per block
constexpr int kUnroll = 8;  // 16-byte weight loads in flight per lane

// MR: rows of x handled (M <= MR); T: storage of x and W; Ty: storage of y.
template <typename T, int MR, typename Ty>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const T* __restrict__ x, int M, int K,
                                                           const T* __restrict__ w, int64_t N, Ty* __restrict__ y,
                                                           bool accumulate) {
  const int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int lane = int(threadIdx.x) & 31;
  if (n >= N) return;
  const int chunks = K / 8;  // 16-byte chunks of a row
  const uint4* wr = reinterpret_cast<const uint4*>(w + n * K);
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
    // PDL: the first weight loads are in flight while the kernel before (the norm, attention)
    // finishes; x (and y, when accumulating) only after it has.
    if (!waited) {
      pdl_wait();
      waited = true;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + u * 32;
      if (c >= chunks) break;
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
#pragma unroll
  for (int m = 0; m < MR; ++m) {
    const float v = warp_sum(acc[m]);
    if (lane == 0 && m < M) {
      Ty* o = y + int64_t(m) * N + n;
      *o = from_f32<Ty>(accumulate ? to_f32(*o) + v : v);
    }
  }
}

// Launched as a programmatic dependent (PDL): its blocks may start while the previous kernel on the
// stream runs, once that one triggers (the norm, attention and SwiGLU kernels do at their start).
template <typename T, typename Ty>
void launch(const void* x, int M, int K, const void* w, int64_t N, void* y, bool accumulate, cudaStream_t s) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(blocks_for(N, kWarps));
  cfg.blockDim = dim3(kWarps * 32);
  cfg.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  const auto* xs = static_cast<const T*>(x);
  const auto* ws = static_cast<const T*>(w);
  auto* ys = static_cast<Ty*>(y);
  auto* k = M == 1 ? gemv_kernel<T, 1, Ty> : M == 2 ? gemv_kernel<T, 2, Ty> : gemv_kernel<T, kGemvMaxRows, Ty>;
  SI_CUDA_CHECK(cudaLaunchKernelEx(&cfg, k, xs, M, K, ws, N, ys, accumulate));
  SI_CUDA_LAUNCHED("gemv_kernel");
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
  SI_CHECK((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16 == 0,
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

}  // namespace si::cuda
