// ops/cpu/sgemm.h — single-precision GEMM for the trainer's fast path and GPTQ's CPU backend
// (BLIS-style blocking around one register-tiled micro-kernel per ISA).
//
//   // y (N, O) = x (N, I) * W^T,  W (O, I) row-major
//   si::cpu::sgemm(false, true, N, O, I, 1.0f, x, I, W, I, 0.0f, y, O);
//
// Why our own: OpenBLAS picks its kernels by OPENBLAS_CORETYPE, and the machines this project runs
// on set it to Haswell (AVX2), while their CPUs have AVX-512: on the trainer's shapes (a few hundred
// rows, K and N of 256-2048) an AVX-512 tile does about 1.5x OpenBLAS's Haswell kernels there
// (bench/bench_sgemm). Results depend on the ISA path and the shape only, never on threads or the
// BLAS library installed: the CPU trainer's resumed runs stay bitwise equal.
//
// Single-threaded by design: the trainer splits its work over its own pool and calls this inside
// each task. Row-major throughout, as cblas_sgemm(CblasRowMajor, ...):
//   C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C
// op(A) = A (M, K) with row stride lda, or with trans_a A^T where A is (K, M); likewise op(B).
// beta == 0 overwrites C without reading it (NaNs in C do not leak through).
#pragma once

#include <cstdint>

#include "ops/cpu/isa.h"

namespace si {
class ThreadPool;
}

namespace si::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The same product over a pool, for callers without their own split (GPTQ's calibration pass):
// C in tiles of 480 rows (every micro-kernel's row count divides it) by 1024 columns, one sgemm
// each. C is the same for any pool size: every element sums over k in the same order whatever
// shares its call.
void sgemm_rows(ThreadPool& pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The micro-kernel of one ISA. C (MR, NR), row stride ldc, += alpha * A (MR, kc) * b, where b holds
// kc rows of NR values (b[k * NR + c], packed) and A is read in place:
//   run_rows: A(r, k) = a[r * lda + k]   (op(A) not transposed: each row contiguous)
//   run_cols: A(r, k) = a[k * lda + r]   (transposed, or a packed panel with lda = MR)
// pack_b_trans (optional): dst (kc, NR) := the transpose of src's NR rows (row stride ld) over
// kc columns, for op(B) = B^T; null means the portable loop.
struct SgemmKernel {
  int mr = 0, nr = 0;
  void (*run_rows)(int64_t kc, const float* a, int64_t lda, const float* b, float alpha, float* c,
                   int64_t ldc) = nullptr;
  void (*run_cols)(int64_t kc, const float* a, int64_t lda, const float* b, float alpha, float* c,
                   int64_t ldc) = nullptr;
  void (*pack_b_trans)(int64_t kc, const float* src, int64_t ld, float* dst) = nullptr;
};
const SgemmKernel& sgemm_kernel(Isa isa);

// Defined in the per-ISA files (only called when the CPU has the ISA).
const SgemmKernel& sgemm_kernel_scalar();
const SgemmKernel& sgemm_kernel_avx2();
const SgemmKernel& sgemm_kernel_avx512();

}  // namespace si::cpu
