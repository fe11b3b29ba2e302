// Quantized dot products for AVX2 + FMA + F16C (bodies in vec_dot_simd.inc).
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "core/system.h"
#include "ops/cpu/quants_impl.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace si::cpu {
namespace {

inline __m256i dot_u8s8_avx2(__m256i acc, __m256i u, __m256i s) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#define DOT_U8S8(acc, u, s) dot_u8s8_avx2((acc), (u), (s))

#include "ops/cpu/vec_dot_simd.inc"

#undef DOT_U8S8

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu::quants {
const DotTable* dot_table_avx2() {
  const auto& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return nullptr;
  static const DotTable table = make_dot_table("avx2");
  return &table;
}
}  // namespace si::cpu::quants
