// AVX2 + FMA + F16C kernels (8 floats per register, 16 registers: 3x4 accumulator tiles).
#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace si::cpu {
namespace {

#define VEC __m256
#define VLEN 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_SET1(f) _mm256_set1_ps(f)
#define V_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))
#define V_LOAD_BF16(p) \
  _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_HSUM(v) hsum256(v)
constexpr int KMR = 3;
constexpr int KNR = 4;

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#include "ops/cpu/gemm_simd.inc"

const KernelTable kTable{{gemm<WeightKind::F32>, gemm<WeightKind::F16>, gemm<WeightKind::BF16>}, dot, axpy};

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const KernelTable& kernels_avx2() { return kTable; }
}  // namespace si::cpu
