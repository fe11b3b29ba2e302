// AVX2+FMA sgemm micro-kernel: a 6 x 16 C tile in 12 ymm accumulators; per k step two loads of B,
// six broadcasts of A, 12 FMAs (ops/cpu/sgemm.h).
#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/sgemm.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace si::cpu {
namespace {

constexpr int MR = 6, NR = 16;

// kRows: A(r, k) = a[r * lda + k]; else A(r, k) = a[k * lda + r].
template <bool kRows>
void kernel(int64_t kc, const float* a, int64_t lda, const float* b, float alpha, float* c, int64_t ldc) {
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(kRows ? a + r * lda + k : a + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
    if (!kRows) a += lda;
    b += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha);
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, acc[r][0], _mm256_loadu_ps(cr)));
    _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, acc[r][1], _mm256_loadu_ps(cr + 8)));
  }
}

const SgemmKernel kKernel{MR, NR, kernel<true>, kernel<false>, nullptr};

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const SgemmKernel& sgemm_kernel_avx2() { return kKernel; }
}  // namespace si::cpu
