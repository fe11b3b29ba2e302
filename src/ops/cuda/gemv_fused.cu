// ops/cuda/gemv_fused.cu — the one-row FP16 GEMV of gemv.cu with the op before it done inside:
// RMSNorm (before q|k|v and gate|up) or SwiGLU (before down). At batch 1 each of those ops is a
// launch that reads a few KB, and the GEMV after it waits for it; fused, every block rebuilds the
// fp16 input row in shared memory (from L2: 8-16 KB for the norm, 32 KB for SwiGLU's gate|up) after
// its first weight loads are in flight, and three launches per layer go away.
//
// The prologue's arithmetic is rms_norm_kernel's and swiglu_kernel's (elementwise.cu: the same
// 256-thread partial sums and block_sum for the norm's rstd, the same expressions), and the dot
// products are gemv_kernel's, so results are bitwise those of the op followed by cuda::gemv.
// Blocks loop over rows (at most kMaxBlocks blocks) so that wide outputs (gate|up, 16384 rows)
// do not rebuild the input row 2048 times. Launched with PDL and triggering at the start, so the
// next fused GEMV's weight loads overlap this one's tail.
//
// Measured (H100, bench_cuda_forward, same binary): slower than the separate kernels, decode step
// at batch 1 1.38-1.39 vs 1.24-1.25 ms, so the runner uses it only when asked (fused_gemv); not yet
// profiled (suspects: down_proj's K = 8192 on this GEMV instead of cuBLAS, two rows per warp for
// gate|up without loads in flight across rows, and the early trigger parking blocks on the SMs).
#include <algorithm>

#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "ops/cuda/matmul.h"

namespace si::cuda {
namespace {

constexpr int kWarps = 8;        // weight rows per block and pass
constexpr int kUnroll = 8;       // 16-byte weight loads in flight per lane
constexpr int kMaxBlocks = 1024;
constexpr int kMaxK = 8192;      // the input row in shared memory: at most 16 KB

enum Prologue { kNorm, kSwiglu };

// kNorm: in = x (K) f32, nw (K) the norm weight. kSwiglu: in = gate|up (2K) fp16, nw unused.
template <int P, typename Ty>
__global__ void __launch_bounds__(kWarps * 32) gemv_fused_kernel(const void* __restrict__ in,
                                                                 const float* __restrict__ nw, float eps, int K,
                                                                 const __half* __restrict__ w, int64_t N,
                                                                 Ty* __restrict__ y, bool accumulate) {
  extern __shared__ uint4 xs_raw[];
  __half* xs = reinterpret_cast<__half*>(xs_raw);
  pdl_trigger();
  const int lane = int(threadIdx.x) & 31;
  const int chunks = K / 8;
  const int64_t stride = int64_t(gridDim.x) * kWarps;
  int64_t n = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  // The first weight loads of this warp's first row, before waiting for the kernel before.
  uint4 wv[kUnroll];
  if (n < N) {
    const uint4* wr = reinterpret_cast<const uint4*>(w + n * K);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = lane + u * 32;
      if (c < chunks) wv[u] = __ldcs(wr + c);
    }
  }
  pdl_wait();
  if (P == kNorm) {
    const float* xr = static_cast<const float*>(in);
    float ss = 0.0f;
    for (int c = threadIdx.x; c < K; c += blockDim.x) {
      const float v = xr[c];
      ss += v * v;
    }
    ss = block_sum(ss);
    const float rstd = 1.0f / sqrtf(ss / float(K) + eps);
    for (int c = threadIdx.x; c < K; c += blockDim.x) xs[c] = __float2half_rn(nw[c] * (xr[c] * rstd));
  } else {
    const __half* g = static_cast<const __half*>(in);
    for (int c = threadIdx.x; c < K; c += blockDim.x) {
      const float gf = __half2float(g[c]);
      xs[c] = __float2half_rn(gf / (1.0f + expf(-gf)) * __half2float(g[K + c]));
    }
  }
  __syncthreads();
  bool loaded = true;  // wv holds the first loads of row n
  for (; n < N; n += stride) {
    const uint4* wr = reinterpret_cast<const uint4*>(w + n * K);
    float acc = 0.0f;
    for (int c0 = lane; c0 < chunks; c0 += 32 * kUnroll) {
      if (!loaded) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int c = c0 + u * 32;
          if (c < chunks) wv[u] = __ldcs(wr + c);
        }
      }
      loaded = false;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = c0 + u * 32;
        if (c >= chunks) break;
        float wf[8], xf[8];
        half8_to_f32(wv[u], wf);
        half8_to_f32(xs_raw[c], xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc += wf[i] * xf[i];
      }
    }
    const float v = warp_sum(acc);
    if (lane == 0) y[n] = from_f32<Ty>(accumulate ? to_f32(y[n]) + v : v);
  }
}

template <int P>
void launch(const void* in, const float* nw, float eps, int64_t K, const void* w, int64_t N, DType y_t, void* y,
            bool accumulate, cudaStream_t s) {
  SI_CHECK(gemv_fused_fits(K), "gemv (fused, CUDA): K must be a multiple of 8 up to {}, got {}", kMaxK, K);
  SI_CHECK(y_t == DType::F32 || y_t == DType::F16, "gemv (fused, CUDA): output must be F32 or F16, got {}",
           dtype_name(y_t));
  SI_CHECK(reinterpret_cast<uintptr_t>(w) % 16 == 0, "gemv (fused, CUDA): w must be 16-byte aligned");
  if (N == 0) return;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(std::min<unsigned>(blocks_for(N, kWarps), kMaxBlocks));
  cfg.blockDim = dim3(kWarps * 32);
  cfg.dynamicSmemBytes = size_t(K) * 2;
  cfg.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  const auto* ws = static_cast<const __half*>(w);
  if (y_t == DType::F32)
    SI_CUDA_CHECK(cudaLaunchKernelEx(&cfg, gemv_fused_kernel<P, float>, in, nw, eps, int(K), ws, N,
                                     static_cast<float*>(y), accumulate));
  else
    SI_CUDA_CHECK(cudaLaunchKernelEx(&cfg, gemv_fused_kernel<P, __half>, in, nw, eps, int(K), ws, N,
                                     static_cast<__half*>(y), accumulate));
  SI_CUDA_LAUNCHED("gemv_fused_kernel");
}

}  // namespace

bool gemv_fused_fits(int64_t K) { return K > 0 && K % 8 == 0 && K <= kMaxK; }

void gemv_rms_norm(const float* x, const float* norm_w, float eps, int64_t K, const void* w, int64_t N, DType y_t,
                   void* y, bool accumulate, cudaStream_t s) {
  launch<kNorm>(x, norm_w, eps, K, w, N, y_t, y, accumulate, s);
}

void gemv_swiglu(const void* gate_up, int64_t K, const void* w, int64_t N, DType y_t, void* y, bool accumulate,
                 cudaStream_t s) {
  launch<kSwiglu>(gate_up, nullptr, 0.0f, K, w, N, y_t, y, accumulate, s);
}

}  // namespace si::cuda
