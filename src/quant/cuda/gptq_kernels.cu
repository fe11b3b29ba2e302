// quant/cuda/gptq_kernels.cu — see gptq_kernels.h. The rounding and error-feedback arithmetic
// mirrors quant/gptq.cpp operation by operation: IEEE division, rintf for std::nearbyint (both
// round half to even), and explicit __fmul_rn / __fsub_rn where nvcc would otherwise fuse a
// multiply and a subtraction that the CPU build (no -mfma) rounds separately.
#include <algorithm>

#include <cuda_fp16.h>

#include "ops/cuda/common.cuh"
#include "ops/cuda/device.h"
#include "quant/cuda/gptq_kernels.h"

namespace si::cuda::gptq {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 32;        // transposes: (kTile, kTile) tiles, kTile x 8 threads
constexpr int kRowThreads = 64;  // quantize_block: output rows per block
constexpr int kMaxBlock = 128;   // quantize_block: columns per block at most (shared memory)

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 8)); }

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

// One atomic per warp; every lane of the warp must call it.
__device__ __forceinline__ void warp_add_to(double* acc, double v) {
  v = warp_sum_d(v);
  if ((threadIdx.x & 31) == 0 && v != 0) atomicAdd(acc, v);
}

// quant/gptq.cpp Grid::to_f16_scale: rounded to fp16, never zero, never infinite.
__device__ __forceinline__ float f16_scale(float s, uint16_t& bits) {
  uint16_t h = __half_as_ushort(__float2half_rn(s));
  if ((h & 0x7FFF) == 0) h = 1;
  if ((h & 0x7C00) == 0x7C00) h = 0x7BFF;
  bits = h;
  return __half2float(__ushort_as_half(h));
}

// quant/gptq.cpp Grid::find for output row o over rows [k, k + n) of wt (in, out).
__device__ void find_one(const float* wt, int64_t k, int64_t n, int64_t out, int64_t o, const Grid& g, float& s,
                         float& z, uint16_t& bits) {
  float xmin = 0, xmax = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float x = wt[(k + r) * out + o];
    xmin = fminf(xmin, x);
    xmax = fmaxf(xmax, x);
  }
  if (g.sym) {
    xmax = fmaxf(fabsf(xmin), xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin == 0 && xmax == 0) xmin = -1, xmax = 1;
  s = f16_scale(__fdiv_rn(xmax - xmin, float(g.maxq)), bits);
  z = g.sym ? float((g.maxq + 1) / 2) : fminf(fmaxf(rintf(__fdiv_rn(-xmin, s)), 0.0f), float(g.maxq));
  if (!g.sym && g.v1_zero && z < 1) {
    z = 1;
    s = f16_scale(__fdiv_rn(xmax, float(g.maxq - 1)), bits);
  }
}

__device__ __forceinline__ void store_grid(const Grid& g, int64_t grp, int64_t out, int64_t o, float s, float z,
                                           uint16_t bits) {
  g.scale[o] = s;
  g.zero[o] = z;
  g.scales[grp * out + o] = bits;
  g.zeros[grp * out + o] = int32_t(z);
}

__global__ void find_grid_kernel(const float* wt, int64_t k, int64_t n, int64_t out, int64_t grp, Grid g) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= out) return;
  float s, z;
  uint16_t bits;
  find_one(wt, k, n, out, o, g, s, z, bits);
  store_grid(g, grp, out, o, s, z, bits);
}

// One thread per output row o walks the block's columns in order: the rows of W are independent
// in GPTQ (the error of row o only updates row o), so the sequential part runs in parallel over
// rows. sw holds the block's working values of this block's rows, su the (count, count) block of U.
__global__ void __launch_bounds__(kRowThreads) quantize_block_kernel(const float* __restrict__ wt,
                                                                     const float* __restrict__ u, int64_t in,
                                                                     int64_t out, int64_t i1, int count, Grid g,
                                                                     bool rtn, uint8_t* qt, float* wqt, float* err,
                                                                     double* loss) {
  extern __shared__ float smem[];
  float* su = smem;                        // (count, count)
  float* sw = su + (rtn ? 0 : count * count);  // (count, kRowThreads): column-major per thread, conflict-free
  const int tid = int(threadIdx.x);
  const int64_t o = int64_t(blockIdx.x) * kRowThreads + tid;
  const bool active = o < out;
  if (!rtn)
    for (int e = tid; e < count * count; e += kRowThreads) su[e] = u[(i1 + e / count) * in + i1 + e % count];
  if (active)
    for (int j = 0; j < count; ++j) sw[j * kRowThreads + tid] = wt[(i1 + j) * out + o];
  __syncthreads();
  double l = 0;
  if (active) {
    float s = g.scale[o], z = g.zero[o];
    for (int i = 0; i < count; ++i) {
      const int64_t k = i1 + i;
      if (g.group_size > 0 && k % g.group_size == 0) {
        // From wt: earlier blocks' updates applied, this block's not (AutoGPTQ's outer W).
        uint16_t bits;
        find_one(wt, k, min(g.group_size, in - k), out, o, g, s, z, bits);
        store_grid(g, k / g.group_size, out, o, s, z, bits);
      }
      const float w = sw[i * kRowThreads + tid];
      const float c = fminf(fmaxf(rintf(__fdiv_rn(w, s)) + z, 0.0f), float(g.maxq));
      const float q = __fmul_rn(s, c - z);
      qt[k * out + o] = uint8_t(c);
      wqt[k * out + o] = q;
      if (rtn) continue;
      const float e = __fdiv_rn(w - q, su[i * count + i]);
      l += 0.5 * double(e) * double(e);
      err[int64_t(i) * out + o] = e;
      for (int j = i + 1; j < count; ++j)
        sw[j * kRowThreads + tid] = __fsub_rn(sw[j * kRowThreads + tid], __fmul_rn(su[i * count + j], e));
    }
    g.scale[o] = s;
    g.zero[o] = z;
  }
  warp_add_to(loss, l);
}

__global__ void accumulate_upper_kernel(double* sum, const float* tmp, int64_t n) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n * n; e += int64_t(gridDim.x) * blockDim.x)
    if (e % n >= e / n) sum[e] += double(tmp[e]);
}

__global__ void symmetrize_kernel(const double* sum, double k, int64_t n, double* h) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n * n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / n, j = e % n;
    h[e] = k * (j >= i ? sum[e] : sum[j * n + i]);
  }
}

// (kTile, kTile) tiles through shared memory so that reads and writes are both row-contiguous.
__global__ void transpose_kernel(const float* a, int64_t rows, int64_t cols, float* at) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t c0 = int64_t(blockIdx.x) * kTile, r0 = int64_t(blockIdx.y) * kTile;
  for (int y = int(threadIdx.y); y < kTile; y += int(blockDim.y))
    if (r0 + y < rows && c0 + threadIdx.x < cols) tile[y][threadIdx.x] = a[(r0 + y) * cols + c0 + threadIdx.x];
  __syncthreads();
  for (int y = int(threadIdx.y); y < kTile; y += int(blockDim.y))
    if (c0 + y < cols && r0 + threadIdx.x < rows) at[(c0 + y) * rows + r0 + threadIdx.x] = tile[threadIdx.x][y];
}

__global__ void unpermute_kernel(const uint8_t* qt, const float* wqt, const int32_t* perm, int64_t in, int64_t out,
                                 uint8_t* q, float* wq) {
  __shared__ float tw[kTile][kTile + 1];
  __shared__ uint8_t tq[kTile][kTile + 1];
  const int64_t o0 = int64_t(blockIdx.x) * kTile, k0 = int64_t(blockIdx.y) * kTile;
  for (int y = int(threadIdx.y); y < kTile; y += int(blockDim.y))
    if (k0 + y < in && o0 + threadIdx.x < out) {
      tw[y][threadIdx.x] = wqt[(k0 + y) * out + o0 + threadIdx.x];
      tq[y][threadIdx.x] = qt[(k0 + y) * out + o0 + threadIdx.x];
    }
  __syncthreads();
  for (int y = int(threadIdx.y); y < kTile; y += int(blockDim.y))
    if (o0 + y < out && k0 + threadIdx.x < in) {
      const int64_t col = perm[k0 + threadIdx.x];
      wq[(o0 + y) * in + col] = tw[threadIdx.x][y];
      q[(o0 + y) * in + col] = tq[threadIdx.x][y];
    }
}

__global__ void to_f32_kernel(const double* x, int64_t n, float* y) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x)
    y[e] = float(x[e]);
}

__global__ void mark_dead_kernel(double* h, float* wt, int64_t n, int64_t out, uint8_t* dead, int* n_dead) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const bool d = h[i * n + i] == 0;
  dead[i] = d;
  if (!d) return;
  h[i * n + i] = 1;
  for (int64_t o = 0; o < out; ++o) wt[i * out + o] = 0;
  atomicAdd(n_dead, 1);
}

__global__ void permute_kernel(const double* h, const float* wt, const int32_t* perm, int64_t n, int64_t out,
                               double* hp, float* wp) {
  const int64_t nn = n * n, total = nn + n * out;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    if (e < nn) {
      hp[e] = h[int64_t(perm[e / n]) * n + perm[e % n]];
    } else {
      const int64_t f = e - nn;
      wp[f] = wt[int64_t(perm[f / out]) * out + f % out];
    }
  }
}

__global__ void reverse_damp_kernel(const double* h, int64_t n, double lambda, double* a) {
  const int64_t nn = n * n;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < nn; e += int64_t(gridDim.x) * blockDim.x)
    a[e] = h[nn - 1 - e] + (e % (n + 1) == 0 ? lambda : 0.0);
}

__global__ void reverse_kernel(double* a, int64_t nn) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < nn / 2; e += int64_t(gridDim.x) * blockDim.x) {
    const double t = a[e];
    a[e] = a[nn - 1 - e];
    a[nn - 1 - e] = t;
  }
}

__global__ void upper_f32_kernel(const double* a, int64_t n, float* u) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n * n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / n, j = e % n;
    u[e] = j >= i ? float(a[j * n + i]) : 0.0f;
  }
}

__global__ void sq_diff_kernel(const float* w, const float* wq, const uint8_t* dead, int64_t out, int64_t in,
                               double* acc) {
  double s = 0;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < out * in; e += int64_t(gridDim.x) * blockDim.x) {
    const double d = (dead[e % in] ? 0.0 : double(w[e])) - double(wq[e]);
    s += d * d;
  }
  warp_add_to(acc, s);
}

__global__ void dot_kernel(const float* a, const float* b, int64_t n, double* acc) {
  double s = 0;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x)
    s += double(a[e]) * double(b[e]);
  warp_add_to(acc, s);
}

__global__ void sub_kernel(const float* a, const float* b, int64_t n, float* d) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x)
    d[e] = a[e] - b[e];
}

dim3 tiles(int64_t cols, int64_t rows) { return dim3(blocks_for(cols, kTile), blocks_for(rows, kTile)); }

}  // namespace

void accumulate_upper(double* sum, const float* tmp, int64_t n, cudaStream_t s) {
  accumulate_upper_kernel<<<grid_for(n * n), kThreads, 0, s>>>(sum, tmp, n);
  SI_CUDA_LAUNCHED("accumulate_upper_kernel");
}

void symmetrize(const double* sum, double k, int64_t n, double* h, cudaStream_t s) {
  symmetrize_kernel<<<grid_for(n * n), kThreads, 0, s>>>(sum, k, n, h);
  SI_CUDA_LAUNCHED("symmetrize_kernel");
}

void transpose(const float* a, int64_t rows, int64_t cols, float* at, cudaStream_t s) {
  transpose_kernel<<<tiles(cols, rows), dim3(kTile, 8), 0, s>>>(a, rows, cols, at);
  SI_CUDA_LAUNCHED("transpose_kernel");
}

void to_f32(const double* x, int64_t n, float* y, cudaStream_t s) {
  to_f32_kernel<<<grid_for(n), kThreads, 0, s>>>(x, n, y);
  SI_CUDA_LAUNCHED("to_f32_kernel");
}

void mark_dead(double* h, float* wt, int64_t n, int64_t out, uint8_t* dead, int* n_dead, cudaStream_t s) {
  mark_dead_kernel<<<blocks_for(n, kThreads), kThreads, 0, s>>>(h, wt, n, out, dead, n_dead);
  SI_CUDA_LAUNCHED("mark_dead_kernel");
}

void permute(const double* h, const float* wt, const int32_t* perm, int64_t n, int64_t out, double* hp, float* wp,
             cudaStream_t s) {
  permute_kernel<<<grid_for(n * n + n * out), kThreads, 0, s>>>(h, wt, perm, n, out, hp, wp);
  SI_CUDA_LAUNCHED("permute_kernel");
}

void reverse_damp(const double* h, int64_t n, double lambda, double* a, cudaStream_t s) {
  reverse_damp_kernel<<<grid_for(n * n), kThreads, 0, s>>>(h, n, lambda, a);
  SI_CUDA_LAUNCHED("reverse_damp_kernel");
}

void reverse(double* a, int64_t n, cudaStream_t s) {
  reverse_kernel<<<grid_for(n * n / 2 + 1), kThreads, 0, s>>>(a, n * n);
  SI_CUDA_LAUNCHED("reverse_kernel");
}

void upper_f32(const double* a, int64_t n, float* u, cudaStream_t s) {
  upper_f32_kernel<<<grid_for(n * n), kThreads, 0, s>>>(a, n, u);
  SI_CUDA_LAUNCHED("upper_f32_kernel");
}

void find_grid(const float* wt, int64_t k, int64_t n, int64_t out, int64_t g, const Grid& grid, cudaStream_t s) {
  find_grid_kernel<<<blocks_for(out, kThreads), kThreads, 0, s>>>(wt, k, n, out, g, grid);
  SI_CUDA_LAUNCHED("find_grid_kernel");
}

void quantize_block(const float* wt, const float* u, int64_t in, int64_t out, int64_t i1, int count, const Grid& grid,
                    bool rtn, uint8_t* qt, float* wqt, float* err, double* loss, cudaStream_t s) {
  SI_CHECK(count > 0 && count <= kMaxBlock, "GPTQ (CUDA): block of {} columns outside 1..{}", count, kMaxBlock);
  const size_t smem = sizeof(float) * size_t((rtn ? 0 : count * count) + count * kRowThreads);
  static bool attr_set = false;  // one attribute for the largest size, set once per process
  if (!attr_set) {
    const int max_smem = int(sizeof(float) * size_t(kMaxBlock * kMaxBlock + kMaxBlock * kRowThreads));
    SI_CUDA_CHECK(cudaFuncSetAttribute(quantize_block_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem));
    attr_set = true;
  }
  quantize_block_kernel<<<blocks_for(out, kRowThreads), kRowThreads, smem, s>>>(wt, u, in, out, i1, count, grid, rtn,
                                                                               qt, wqt, err, loss);
  SI_CUDA_LAUNCHED("quantize_block_kernel");
}

void unpermute(const uint8_t* qt, const float* wqt, const int32_t* perm, int64_t in, int64_t out, uint8_t* q, float* wq,
               cudaStream_t s) {
  unpermute_kernel<<<tiles(out, in), dim3(kTile, 8), 0, s>>>(qt, wqt, perm, in, out, q, wq);
  SI_CUDA_LAUNCHED("unpermute_kernel");
}

void sq_diff(const float* w, const float* wq, const uint8_t* dead, int64_t out, int64_t in, double* acc, cudaStream_t s) {
  sq_diff_kernel<<<grid_for(out * in), kThreads, 0, s>>>(w, wq, dead, out, in, acc);
  SI_CUDA_LAUNCHED("sq_diff_kernel");
}

void dot(const float* a, const float* b, int64_t n, double* acc, cudaStream_t s) {
  dot_kernel<<<grid_for(n), kThreads, 0, s>>>(a, b, n, acc);
  SI_CUDA_LAUNCHED("dot_kernel");
}

void sub(const float* a, const float* b, int64_t n, float* d, cudaStream_t s) {
  sub_kernel<<<grid_for(n), kThreads, 0, s>>>(a, b, n, d);
  SI_CUDA_LAUNCHED("sub_kernel");
}

}  // namespace si::cuda::gptq
