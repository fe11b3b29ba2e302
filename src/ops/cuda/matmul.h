// ops/cuda/matmul.h — y = x W^T on the GPU: FP16/BF16/F32 weights through cuBLASLt, a weight-streaming
// GEMV for decode steps of a few rows, and a gather kernel for a few selected weight rows
// (constrained decoding reads only the allowed vocabulary).
//
//   si::cuda::Blas blas;                                         // one per stream user; holds the workspace
//   blas.matmul(DType::F16, x, M, K, w, N, DType::F32, y, /*accumulate=*/true, stream);   // y += x W^T
//   blas.matmul_fp8(xq, M, K, wq, N, DType::F32, y, true, /*fast_accum=*/false, stream);   // e4m3 rows (fp8.h)
//   if (si::cuda::gemv_fits(DType::F16, M, K)) si::cuda::gemv(DType::F16, x, M, K, w, N, DType::F32, y, true, stream);
//   si::cuda::matmul_rows(DType::F16, x, M, K, w, rows, R, y, stream);   // y (M, R) f32
//   si::cuda::matmul_pairs(DType::F16, x, K, w, xrows, rows, R, y, stream);   // y (R) f32
//
// Layout as on the CPU: x (M, K) and W (N, K) row-major (a Linear's weight as stored), y (M, N).
// Accumulation is fp32; `accumulate` adds into y (the residual stream) in the same pass.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include <cuda_runtime.h>

#include "core/dtype.h"
#include "ops/cuda/device.h"
#include "ops/cuda/fp8.h"

namespace si::cuda {

class Blas {
 public:
  Blas();
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  // x (M, K) and w (N, K) of type ab_t (F16, BF16 or F32); y (M, N) of type y_t.
  void matmul(DType ab_t, const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y,
              bool accumulate, cudaStream_t s);
  // x (M, K) and w (N, K) as e4m3 rows with per-row scales (fp8.h): y[m][n] = x.scale[m] *
  // w.scale[n] * sum_k x.q[m][k] w.q[n][k] (cuBLASLt's outer-vector scaling). Hopper's FP8 MMA
  // keeps fewer bits than fp32 within a K step (~1e-4 relative error even at K = 64); cuBLASLt
  // promotes the sums to fp32 every few steps unless fast_accum (~1e-3 at K = 2048, H100). y_t
  // F32, F16 or BF16; K a multiple of 16; x.q and w.q 16-byte aligned.
  void matmul_fp8(Fp8Rows x, int64_t M, int64_t K, Fp8Rows w, int64_t N, DType y_t, void* y, bool accumulate,
                  bool fast_accum, cudaStream_t s);

 private:
  struct Plan;
  // ab: the DType of x and w as an int, or kE4m3 / kE4m3Fast (matmul_fp8).
  using Key = std::tuple<int, int, int64_t, int64_t, int64_t, bool>;
  static constexpr int kE4m3 = 1000, kE4m3Fast = 1001;
  // (w_scale, x_scale: matmul_fp8's scale vectors, set before the heuristic runs.)
  Plan& plan(int ab, DType y_t, int64_t M, int64_t N, int64_t K, bool accumulate, const float* w_scale,
             const float* x_scale);
  void* handle_ = nullptr;  // cublasLtHandle_t
  DeviceBuffer workspace_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

// y (M, N) = x (M, K) W^T for the few rows of a decode step (M <= kGemvMaxRows): one warp per
// weight row (four per row when K > 4096) streaming it with 16-byte loads (faster than cuBLAS at
// batch 1, see gemv.cu). x and w
// F16 or BF16, 16-byte aligned, K a multiple of 8 (gemv_fits); y F32 or x's type; `accumulate`
// adds into y.
constexpr int kGemvMaxRows = 4;
bool gemv_fits(DType ab_t, int64_t M, int64_t K);
void gemv(DType ab_t, const void* x, int64_t M, int64_t K, const void* w, int64_t N, DType y_t, void* y,
          bool accumulate, cudaStream_t s);
// The gate|up GEMV with SwiGLU on its outputs: h (M, F) = silu(x Wg^T) * (x Wu^T), w_gate_up =
// [Wg; Wu] (2F, K), x and h of type t (F16/BF16, gemv_fits). Bitwise gemv() into t followed by
// swiglu(): both sums are rounded to t before the product.
void gemv_swiglu_out(DType t, const void* x, int64_t M, int64_t K, const void* w_gate_up, int64_t F, void* h,
                     cudaStream_t s);

// y (M, R) f32 = x (M, K) W[rows]^T; rows: R device int32 indices into W's rows (checked by the
// caller). One warp per selected row; meant for R in the hundreds, not the whole vocabulary.
void matmul_rows(DType t, const void* x, int64_t M, int64_t K, const void* w, const int32_t* rows, int64_t R, float* y,
                 cudaStream_t s);
// y (R) f32, y[i] = x[xrows[i]] . W[rows[i]]: selected rows for several activation rows at once,
// each with its own selection (every decoding sequence of a step with its allowed tokens). xrows
// and rows: R device int32 indices (checked by the caller). Each y[i] is bitwise what matmul_rows
// gives for that activation row and weight row.
void matmul_pairs(DType t, const void* x, int64_t K, const void* w, const int32_t* xrows, const int32_t* rows,
                  int64_t R, float* y, cudaStream_t s);

}  // namespace si::cuda
