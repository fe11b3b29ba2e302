// AVX-512 (F/BW/VL) kernels: 16 floats per register, 32 registers: 4x4 accumulator tiles.
// GCC 12's AVX-512 headers implement _mm512_undefined_ps as a self-initialised variable, which
// -Wuninitialized reports at every inlined use (a known false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")

namespace si::cpu {
namespace {

#define VEC __m512
#define VLEN 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(f) _mm512_set1_ps(f)
#define V_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))
#define V_LOAD_BF16(p) \
  _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_HSUM(v) _mm512_reduce_add_ps(v)
constexpr int KMR = 4;
constexpr int KNR = 4;

#include "ops/cpu/gemm_simd.inc"

const KernelTable kTable{{gemm<WeightKind::F32>, gemm<WeightKind::F16>, gemm<WeightKind::BF16>}, dot, axpy};

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const KernelTable& kernels_avx512() { return kTable; }
}  // namespace si::cpu
