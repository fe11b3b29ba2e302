// AVX-512 sgemm micro-kernel: a 12 x 32 C tile in 24 zmm accumulators; per k step two loads of B,
// twelve broadcasts of A, 24 FMAs. B^T panels are packed with 16 x 16 register transposes
// (ops/cpu/sgemm.h).
// GCC 12's AVX-512 headers implement _mm512_undefined_ps as a self-initialised variable, which
// -Wuninitialized reports at every inlined use (a known false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/sgemm.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")

namespace si::cpu {
namespace {

#define VEC __m512
#define VLEN 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(f) _mm512_set1_ps(f)
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
constexpr int MR = 12;

#include "ops/cpu/sgemm_simd.inc"

// r[i] (row i, 16 columns) := column i of the 16 x 16 block.
void transpose_16x16(__m512 (&r)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4g + m]: rows 4g..4g+3 of columns m, m + 4, m + 8, m + 12 in its four 128-bit lanes
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int m = 0; m < 4; ++m) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), v1 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
    const __m512 w0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD), w1 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
    r[m] = _mm512_shuffle_f32x4(v0, v1, 0x88);
    r[m + 8] = _mm512_shuffle_f32x4(v0, v1, 0xDD);
    r[m + 4] = _mm512_shuffle_f32x4(w0, w1, 0x88);
    r[m + 12] = _mm512_shuffle_f32x4(w0, w1, 0xDD);
  }
}

// dst (kc, 32) := the transpose of src's 32 rows (stride ld) over kc columns.
void pack_b_trans(int64_t kc, const float* src, int64_t ld, float* dst) {
  for (int c0 = 0; c0 < NR; c0 += 16) {
    int64_t k0 = 0;
    for (; k0 + 16 <= kc; k0 += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + (c0 + i) * ld + k0);
      transpose_16x16(r);
      for (int j = 0; j < 16; ++j) _mm512_storeu_ps(dst + (k0 + j) * NR + c0, r[j]);
    }
    for (; k0 < kc; ++k0)
      for (int i = 0; i < 16; ++i) dst[k0 * NR + c0 + i] = src[(c0 + i) * ld + k0];
  }
}

const SgemmKernel kKernel{MR, NR, kernel<true>, kernel<false>, pack_b_trans};

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const SgemmKernel& sgemm_kernel_avx512() { return kKernel; }
}  // namespace si::cpu
