// Packed Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K GEMM for AVX-512 + VNNI (layouts in
// ops/cpu/gemm_packed.h): one zmm lane per weight row, vpdpbusd of 16 rows' unsigned 4-byte chunks
// with a broadcast int8 activation chunk.
// GCC 12's AVX-512 headers implement _mm512_undefined_* as a self-initialised variable, which
// -Wuninitialized reports at every inlined use (a known false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/system.h"
#include "ops/cpu/gemm_packed.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

namespace si::cpu {
namespace {

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Rows of group `gw` (n_valid of 16 real) times activation rows [m0, m0 + MR): the weight block is
// loaded (and for Q4_0 unpacked) once and used for all MR activation rows.
template <DType kType, int MR>
inline void group_rows(const PackedGemmArgs& p, const uint8_t* gw, int64_t m0, float* y, int n_valid) {
  constexpr bool kQ8 = kType == DType::Q8_0;
  constexpr int kQB = kQ8 ? 512 : 256;
  constexpr int kBias = kQ8 ? -128 : -8;
  const int64_t nb = p.K / 32;
  const auto* scales = reinterpret_cast<const __m256i*>(gw);
  const uint8_t* quants = gw + p.meta_bytes;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const int8_t* aq[MR];
  const float* ad[MR];
  const int32_t* as[MR];
  __m512 acc[MR];
  for (int m = 0; m < MR; ++m) {
    aq[m] = p.a.q + (m0 + m) * p.K;
    ad[m] = p.a.d + (m0 + m) * nb;
    as[m] = p.a.s + (m0 + m) * nb;
    acc[m] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[8];
    const uint8_t* qb = quants + b * kQB;
    if constexpr (kQ8) {
      for (int c = 0; c < 8; ++c) w[c] = _mm512_loadu_si512(qb + 64 * c);
    } else {
      for (int c = 0; c < 4; ++c) {
        const __m512i v = _mm512_loadu_si512(qb + 64 * c);
        w[c] = _mm512_and_si512(v, m4);
        w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(scales + b));
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      const int8_t* a = aq[m] + 32 * b;
      // Two chains: eight dependent vpdpbusd would wait on each other's latency.
      __m512i s0 = _mm512_set1_epi32(kBias * as[m][b]);
      __m512i s1 = _mm512_setzero_si512();
      for (int c = 0; c < 8; c += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w[c], bcast4(a + 4 * c));
        s1 = _mm512_dpbusd_epi32(s1, w[c + 1], bcast4(a + 4 * c + 4));
      }
      const __m512 ds = _mm512_mul_ps(dw, _mm512_set1_ps(ad[m][b]));
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), ds, acc[m]);
    }
  }
  const __mmask16 mask = __mmask16((1u << n_valid) - 1);
  for (int m = 0; m < MR; ++m) _mm512_mask_storeu_ps(y + (m0 + m) * p.ldy, mask, acc[m]);
}

// Q6_K: per sub-block of 16 elements the four chunks are rebuilt from their low nibbles and top
// 2 bits, summed with vpdpbusd (started at -32 * the activations' sum: q - 32 without a signed
// weight) and multiplied by the 16 rows' int8 scales; d * da once per 256 elements.
template <int MR>
inline void group_rows_q6_K(const PackedGemmArgs& p, const uint8_t* gw, int64_t m0, float* y, int n_valid) {
  const int64_t nb = p.K / 256;
  const uint8_t* quants = gw + p.meta_bytes;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  const int8_t* aq[MR];
  const float* ad[MR];
  const int32_t* as[MR];
  __m512 acc[MR];
  for (int m = 0; m < MR; ++m) {
    aq[m] = p.a.q + (m0 + m) * p.K;
    ad[m] = p.a.d + (m0 + m) * nb;
    as[m] = p.a.s + (m0 + m) * nb * 16;
    acc[m] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* meta = gw + b * 288;
    const uint8_t* qb = quants + b * 3072;
    __m512i tot[MR];
    for (int m = 0; m < MR; ++m) tot[m] = _mm512_setzero_si512();
    for (int s = 0; s < 16; ++s) {
      const __m512i l0 = _mm512_loadu_si512(qb + 192 * s), l1 = _mm512_loadu_si512(qb + 192 * s + 64);
      const __m512i h = _mm512_loadu_si512(qb + 192 * s + 128);
      const __m512i c0 = _mm512_or_si512(_mm512_and_si512(l0, m4), _mm512_and_si512(_mm512_slli_epi16(h, 4), m30));
      const __m512i c1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), m4),
                                         _mm512_and_si512(_mm512_slli_epi16(h, 2), m30));
      const __m512i c2 = _mm512_or_si512(_mm512_and_si512(l1, m4), _mm512_and_si512(h, m30));
      const __m512i c3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), m4),
                                         _mm512_and_si512(_mm512_srli_epi16(h, 2), m30));
      const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(meta + 32 + 16 * s)));
#pragma GCC unroll 4
      for (int m = 0; m < MR; ++m) {
        const int8_t* a = aq[m] + 256 * b + 16 * s;
        __m512i d0 = _mm512_dpbusd_epi32(_mm512_set1_epi32(-32 * as[m][16 * b + s]), c0, bcast4(a));
        __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c1, bcast4(a + 4));
        d0 = _mm512_dpbusd_epi32(d0, c2, bcast4(a + 8));
        d1 = _mm512_dpbusd_epi32(d1, c3, bcast4(a + 12));
        tot[m] = _mm512_add_epi32(tot[m], _mm512_mullo_epi32(_mm512_add_epi32(d0, d1), sc));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(meta)));
    for (int m = 0; m < MR; ++m)
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[m]), _mm512_mul_ps(_mm512_set1_ps(ad[m][b]), dw), acc[m]);
  }
  const __mmask16 mask = __mmask16((1u << n_valid) - 1);
  for (int m = 0; m < MR; ++m) _mm512_mask_storeu_ps(y + (m0 + m) * p.ldy, mask, acc[m]);
}

// 128-bit lane k of v (the intrinsic needs an immediate, also in unoptimised builds).
inline __m128i lane128(__m512i v, int k) {
  switch (k) {
    case 0: return _mm512_extracti32x4_epi32(v, 0);
    case 1: return _mm512_extracti32x4_epi32(v, 1);
    case 2: return _mm512_extracti32x4_epi32(v, 2);
    default: return _mm512_extracti32x4_epi32(v, 3);
  }
}

// Q4_K / Q5_K: sub-block S (32 elements) of a super-block; adds sc_S * (q . a) to tot[m].
template <bool kFive, int S, int MR>
inline void sub_block_q45_K(const uint8_t* qb, const int8_t* const* a, __m512i sc4, __m512i* tot) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512i w[8];
  for (int c = 0; c < 8; ++c) {
    const __m512i v = _mm512_loadu_si512(qb + 512 * (S / 2) + 64 * c);
    w[c] = _mm512_and_si512(S % 2 ? _mm512_srli_epi16(v, 4) : v, m4);
    if constexpr (kFive) {  // bit S of the chunk's qh bytes -> bit 4
      const __m512i h = _mm512_loadu_si512(qb + 2048 + 64 * c);
      __m512i hb;
      if constexpr (S <= 4) hb = _mm512_slli_epi16(h, 4 - S);
      else hb = _mm512_srli_epi16(h, S - 4);
      w[c] = _mm512_or_si512(w[c], _mm512_and_si512(hb, _mm512_set1_epi8(0x10)));
    }
  }
  const __m512i sc = _mm512_cvtepu8_epi32(lane128(sc4, S % 4));
#pragma GCC unroll 4
  for (int m = 0; m < MR; ++m) {
    __m512i d0 = _mm512_setzero_si512(), d1 = _mm512_setzero_si512();
    for (int c = 0; c < 8; c += 2) {
      d0 = _mm512_dpbusd_epi32(d0, w[c], bcast4(a[m] + 32 * S + 4 * c));
      d1 = _mm512_dpbusd_epi32(d1, w[c + 1], bcast4(a[m] + 32 * S + 4 * c + 4));
    }
    tot[m] = _mm512_add_epi32(tot[m], _mm512_mullo_epi32(_mm512_add_epi32(d0, d1), sc));
  }
}

// sum_s mn_s * (activation sum of sub-block s) for the 4 sub-blocks whose mins are in mn4.
template <int S0, int MR>
inline void mins_q45_K(__m512i mn4, const int32_t* const* bs, __m512i* mt) {
  for (int k = 0; k < 4; ++k) {
    const __m512i mn = _mm512_cvtepu8_epi32(lane128(mn4, k));
    for (int m = 0; m < MR; ++m) {
      const int s = S0 + k;
      mt[m] = _mm512_add_epi32(mt[m], _mm512_mullo_epi32(mn, _mm512_set1_epi32(bs[m][2 * s] + bs[m][2 * s + 1])));
    }
  }
}

// Q4_K / Q5_K: the 6-bit scales and mins of 16 rows unpacked at once from the transposed bytes,
// per sub-block vpdpbusd sums times the rows' scales (vpmulld), the mins applied from the
// activations' sums; d * da and dmin * da once per 256 elements.
template <bool kFive, int MR>
inline void group_rows_q45_K(const PackedGemmArgs& p, const uint8_t* gw, int64_t m0, float* y, int n_valid) {
  constexpr int kQB = kFive ? 2560 : 2048;
  const int64_t nb = p.K / 256;
  const uint8_t* quants = gw + p.meta_bytes;
  const __m512i m4 = _mm512_set1_epi8(0x0F), m63 = _mm512_set1_epi8(63), m30 = _mm512_set1_epi8(0x30);
  const int8_t* aq[MR];
  const int32_t* as[MR];
  const float* ad[MR];
  __m512 acc[MR];
  for (int m = 0; m < MR; ++m) {
    aq[m] = p.a.q + (m0 + m) * p.K;
    ad[m] = p.a.d + (m0 + m) * nb;
    acc[m] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* meta = gw + b * 256;
    const uint8_t* qb = quants + b * kQB;
    const __m512i z0 = _mm512_loadu_si512(meta + 64), z1 = _mm512_loadu_si512(meta + 128);
    const __m512i z2 = _mm512_loadu_si512(meta + 192);
    // bytes [sub-block][row]: scales 0-3, 4-7 and mins 0-3, 4-7 (get_scale_min_k4, 16 rows at once)
    const __m512i sc_lo = _mm512_and_si512(z0, m63), mn_lo = _mm512_and_si512(z1, m63);
    const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(z2, m4), _mm512_and_si512(_mm512_srli_epi16(z0, 2), m30));
    const __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(z2, 4), m4),
                                          _mm512_and_si512(_mm512_srli_epi16(z1, 2), m30));
    const int8_t* a[MR];
    __m512i tot[MR];
    for (int m = 0; m < MR; ++m) {
      a[m] = aq[m] + 256 * b;
      as[m] = p.a.s + (m0 + m) * nb * 16 + 16 * b;
      tot[m] = _mm512_setzero_si512();
    }
    sub_block_q45_K<kFive, 0, MR>(qb, a, sc_lo, tot);
    sub_block_q45_K<kFive, 1, MR>(qb, a, sc_lo, tot);
    sub_block_q45_K<kFive, 2, MR>(qb, a, sc_lo, tot);
    sub_block_q45_K<kFive, 3, MR>(qb, a, sc_lo, tot);
    sub_block_q45_K<kFive, 4, MR>(qb, a, sc_hi, tot);
    sub_block_q45_K<kFive, 5, MR>(qb, a, sc_hi, tot);
    sub_block_q45_K<kFive, 6, MR>(qb, a, sc_hi, tot);
    sub_block_q45_K<kFive, 7, MR>(qb, a, sc_hi, tot);
    __m512i mt[MR];
    for (int m = 0; m < MR; ++m) mt[m] = _mm512_setzero_si512();
    mins_q45_K<0, MR>(mn_lo, as, mt);
    mins_q45_K<4, MR>(mn_hi, as, mt);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(meta)));
    const __m512 dmw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(meta + 32)));
    for (int m = 0; m < MR; ++m) {
      const __m512 da = _mm512_set1_ps(ad[m][b]);
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[m]), _mm512_mul_ps(da, dw), acc[m]);
      acc[m] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mt[m]), _mm512_mul_ps(da, dmw), acc[m]);
    }
  }
  const __mmask16 mask = __mmask16((1u << n_valid) - 1);
  for (int m = 0; m < MR; ++m) _mm512_mask_storeu_ps(y + (m0 + m) * p.ldy, mask, acc[m]);
}

template <DType kType, int MR>
inline void rows_of(const PackedGemmArgs& p, const uint8_t* gw, int64_t m0, float* y, int n_valid) {
  if constexpr (kType == DType::Q6_K) group_rows_q6_K<MR>(p, gw, m0, y, n_valid);
  else if constexpr (kType == DType::Q4_K) group_rows_q45_K<false, MR>(p, gw, m0, y, n_valid);
  else if constexpr (kType == DType::Q5_K) group_rows_q45_K<true, MR>(p, gw, m0, y, n_valid);
  else group_rows<kType, MR>(p, gw, m0, y, n_valid);
}

template <DType kType>
void gemm(const PackedGemmArgs& p, int64_t g0, int64_t g1) {
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* gw = p.w + uint64_t(g) * p.group_bytes;
    const int n_valid = int(p.N - g * kPackRows < kPackRows ? p.N - g * kPackRows : kPackRows);
    float* y = p.y + g * kPackRows;
    int64_t m = 0;
    for (; m + 4 <= p.a.M; m += 4) rows_of<kType, 4>(p, gw, m, y, n_valid);
    switch (p.a.M - m) {
      case 3: rows_of<kType, 3>(p, gw, m, y, n_valid); break;
      case 2: rows_of<kType, 2>(p, gw, m, y, n_valid); break;
      case 1: rows_of<kType, 1>(p, gw, m, y, n_valid); break;
      default: break;
    }
  }
}

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const PackedKernels* packed_kernels_avx512() {
  const auto& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni)) return nullptr;
  static const PackedKernels k = [] {
    PackedKernels t;
    t.gemm[packed_slot(DType::Q8_0)] = gemm<DType::Q8_0>;
    t.gemm[packed_slot(DType::Q4_0)] = gemm<DType::Q4_0>;
    t.gemm[packed_slot(DType::Q6_K)] = gemm<DType::Q6_K>;
    t.gemm[packed_slot(DType::Q4_K)] = gemm<DType::Q4_K>;
    t.gemm[packed_slot(DType::Q5_K)] = gemm<DType::Q5_K>;
    t.name = "avx512-vnni";
    return t;
  }();
  return &k;
}
}  // namespace si::cpu
