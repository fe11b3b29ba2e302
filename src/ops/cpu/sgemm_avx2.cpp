// AVX2+FMA sgemm micro-kernel: a 6 x 16 C tile in 12 ymm accumulators; per k step two loads of B,
// six broadcasts of A, 12 FMAs (ops/cpu/sgemm.h).
#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/sgemm.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace si::cpu {
namespace {

#define VEC __m256
#define VLEN 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_SET1(f) _mm256_set1_ps(f)
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
constexpr int MR = 6;

#include "ops/cpu/sgemm_simd.inc"

const SgemmKernel kKernel{MR, NR, kernel<true>, kernel<false>, nullptr};

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const SgemmKernel& sgemm_kernel_avx2() { return kKernel; }
}  // namespace si::cpu
