// ops/cpu/sgemm.h — single-precision GEMM for the trainer's fast path
// (BLIS-style blocking and packing around one register-tiled micro-kernel per
// ISA).
//
//   // y (N, O) = x (N, I) * W^T,  W (O, I) row-major
//   si::cpu::sgemm(false, true, N, O, I, 1.0f, x, I, W, I, 0.0f, y, O);
//
// Why our own: OpenBLAS picks its kernels by OPENBLAS_CORETYPE, and the
// machines this project runs on set it to Haswell, whose sgemm reaches 20-40
// GFLOP/s per core on the trainer's shapes (M of a few hundred rows, K and N of
// 256-2048) where an AVX-512 tile does two to three times that
// (bench/bench_sgemm). Results depend on the ISA path and the shape only, never
// on threads or the BLAS library installed: the CPU trainer's resumed runs stay
// bitwise equal.
//
// Single-threaded by design: the trainer splits its work over its own pool and
// calls this inside each task. Row-major throughout, as
// cblas_sgemm(CblasRowMajor, ...):
//   C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C
// op(A) = A (M, K) with row stride lda, or with trans_a A^T where A is (K, M);
// likewise op(B). beta == 0 overwrites C without reading it (NaNs in C do not
// leak through).
#pragma once

#include <cstdint>

#include "ops/cpu/isa.h"

namespace si::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

// The micro-kernel of one ISA: C (MR, NR), row stride ldc, += a * b over kc
// steps, where a holds kc columns of MR values (a[k * MR + r]) and b kc rows of
// NR values (b[k * NR + c]).
struct SgemmKernel {
  int mr = 0, nr = 0;
  void (*run)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc) = nullptr;
};
const SgemmKernel &sgemm_kernel(Isa isa);

// Defined in the per-ISA files (only called when the CPU has the ISA).
const SgemmKernel &sgemm_kernel_scalar();
const SgemmKernel &sgemm_kernel_avx2();
const SgemmKernel &sgemm_kernel_avx512();

}  // namespace si::cpu
