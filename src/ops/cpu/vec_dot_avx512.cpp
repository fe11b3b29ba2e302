// Quantized dot products for AVX-512 VL + VNNI (vpdpbusd on 256-bit registers: one instruction
// for the u8 x s8 4-way dot products that take three on AVX2). Bodies in vec_dot_simd.inc.
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "core/system.h"
#include "ops/cpu/quants_impl.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

namespace si::cpu {
namespace {

#define DOT_U8S8(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))

#include "ops/cpu/vec_dot_simd.inc"

#undef DOT_U8S8

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu::quants {
const DotTable* dot_table_avx512() {
  const auto& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni)) return nullptr;
  static const DotTable table = make_dot_table("avx512-vnni");
  return &table;
}
}  // namespace si::cpu::quants
