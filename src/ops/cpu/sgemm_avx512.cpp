// AVX-512 sgemm micro-kernel: a 12 x 32 C tile in 24 zmm accumulators; per k
// step two loads of B, twelve broadcasts of A, 24 FMAs (ops/cpu/sgemm.h). GCC
// 12's AVX-512 headers implement _mm512_undefined_ps as a self-initialised
// variable, which -Wuninitialized reports at every inlined use (a known false
// positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/sgemm.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")

namespace si::cpu {
namespace {

constexpr int MR = 12, NR = 32;

void kernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc) {
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
    a += MR;
    b += NR;
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    float *cr = c + r * ldc;
    _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), acc[r][0]));
    _mm512_storeu_ps(cr + 16, _mm512_add_ps(_mm512_loadu_ps(cr + 16), acc[r][1]));
  }
}

const SgemmKernel kKernel{MR, NR, kernel};

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const SgemmKernel &sgemm_kernel_avx512() { return kKernel; }
}  // namespace si::cpu
