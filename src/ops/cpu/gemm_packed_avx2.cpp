// Packed Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K GEMM for AVX2 + FMA + F16C (layouts in ops/cpu/gemm_packed.h): a
// group's 16 rows in two halves of 8, one ymm lane per row; u8 x s8 products with maddubs + madd.
//   Q4_0: nibbles (<= 15) times activations: the 8 maddubs of a block sum in int16 without
//         overflow (8 * 2 * 15 * 127 = 30480), one madd per block.
//   Q8_0: maddubs would saturate on the stored q + 128, so the weight is made signed again and
//         multiplied as |w| x sign(a, w).
//   Q6_K: two chunk products (<= 2 * 2 * 63 * 127 = 32004) sum in int16; madd with the row scale
//         in both int16 halves of a lane applies the scale and widens in one instruction.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/system.h"
#include "ops/cpu/gemm_packed.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace si::cpu {
namespace {

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256i load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Rows 8h..8h+7 of the group (n_valid of 16 real) for activation rows [m0, m0 + MR).
template <int MR>
inline void store_rows(const __m256* acc, const PackedGemmArgs& p, float* y, int h, int64_t m0, int n_valid) {
  for (int m = 0; m < MR; ++m) {
    float* out = y + (m0 + m) * p.ldy + 8 * h;
    if (n_valid >= 8 * h + 8) {
      _mm256_storeu_ps(out, acc[m]);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, acc[m]);
      for (int r = 0; r < n_valid - 8 * h; ++r) out[r] = tmp[r];
    }
  }
}

// Rows 8h..8h+7 of group `gw` times activation rows [m0, m0 + MR).
template <DType kType, int MR>
inline void half_rows(const PackedGemmArgs& p, const uint8_t* gw, int h, int64_t m0, float* y, int n_valid) {
  constexpr bool kQ8 = kType == DType::Q8_0;
  constexpr int kQB = kQ8 ? 512 : 256;
  const int64_t nb = p.K / 32;
  const auto* scales = reinterpret_cast<const uint16_t*>(gw);
  const uint8_t* quants = gw + p.meta_bytes + 32 * h;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones16 = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(char(0x80));
  const int8_t* aq[MR];
  const float* ad[MR];
  const int32_t* as[MR];
  __m256 acc[MR];
  for (int m = 0; m < MR; ++m) {
    aq[m] = p.a.q + (m0 + m) * p.K;
    ad[m] = p.a.d + (m0 + m) * nb;
    as[m] = p.a.s + (m0 + m) * nb;
    acc[m] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* qb = quants + b * kQB;
    __m256i sum[MR];
    for (int m = 0; m < MR; ++m) sum[m] = _mm256_setzero_si256();
    if constexpr (kQ8) {
      for (int c = 0; c < 8; ++c) {
        const __m256i w = _mm256_xor_si256(load256(qb + 64 * c), flip);  // signed q
        const __m256i aw = _mm256_abs_epi8(w);
#pragma GCC unroll 4
        for (int m = 0; m < MR; ++m) {
          const __m256i sa = _mm256_sign_epi8(bcast4(aq[m] + 32 * b + 4 * c), w);
          sum[m] = _mm256_add_epi32(sum[m], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), ones16));
        }
      }
    } else {
      for (int c = 0; c < 4; ++c) {
        const __m256i v = load256(qb + 64 * c);
        const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
        for (int m = 0; m < MR; ++m) {
          const int8_t* a = aq[m] + 32 * b + 4 * c;
          sum[m] = _mm256_add_epi16(sum[m], _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(a)),
                                                             _mm256_maddubs_epi16(hi, bcast4(a + 16))));
        }
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + b * kPackRows + 8 * h)));
#pragma GCC unroll 4
    for (int m = 0; m < MR; ++m) {
      __m256i s32 = sum[m];
      if constexpr (!kQ8) s32 = _mm256_sub_epi32(_mm256_madd_epi16(sum[m], ones16), _mm256_set1_epi32(8 * as[m][b]));
      const __m256 ds = _mm256_mul_ps(dw, _mm256_set1_ps(ad[m][b]));
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), ds, acc[m]);
    }
  }
  store_rows<MR>(acc, p, y, h, m0, n_valid);
}

template <int MR>
inline void half_rows_q6_K(const PackedGemmArgs& p, const uint8_t* gw, int h, int64_t m0, float* y, int n_valid) {
  const int64_t nb = p.K / 256;
  const uint8_t* quants = gw + p.meta_bytes + 32 * h;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
  const int8_t* aq[MR];
  const float* ad[MR];
  const int32_t* as[MR];
  __m256 acc[MR];
  for (int m = 0; m < MR; ++m) {
    aq[m] = p.a.q + (m0 + m) * p.K;
    ad[m] = p.a.d + (m0 + m) * nb;
    as[m] = p.a.s + (m0 + m) * nb * 16;
    acc[m] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* meta = gw + b * 288;
    const uint8_t* qb = quants + b * 3072;
    __m256i tot[MR];
    for (int m = 0; m < MR; ++m) tot[m] = _mm256_setzero_si256();
    for (int s = 0; s < 16; ++s) {
      const __m256i l0 = load256(qb + 192 * s), l1 = load256(qb + 192 * s + 64), hb = load256(qb + 192 * s + 128);
      const __m256i c0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
      const __m256i c1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
      const __m256i c2 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(hb, m30));
      const __m256i c3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
      int64_t sc8;
      __builtin_memcpy(&sc8, meta + 32 + 16 * s + 8 * h, 8);
      const __m256i sc32 = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(sc8));
      const __m256i sc16 = _mm256_or_si256(_mm256_slli_epi32(sc32, 16), _mm256_and_si256(sc32, lo16));  // (sc, sc)
#pragma GCC unroll 4
      for (int m = 0; m < MR; ++m) {
        const int8_t* a = aq[m] + 256 * b + 16 * s;
        const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(c0, bcast4(a)), _mm256_maddubs_epi16(c1, bcast4(a + 4)));
        const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(c2, bcast4(a + 8)), _mm256_maddubs_epi16(c3, bcast4(a + 12)));
        // - 32 * sc * (sum of the 16 activations): (sc, sc) . (bsum, 0), times 32.
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_set1_epi32(as[m][16 * b + s] & 0xFFFF));
        tot[m] = _mm256_add_epi32(tot[m], _mm256_add_epi32(_mm256_madd_epi16(p01, sc16), _mm256_madd_epi16(p23, sc16)));
        tot[m] = _mm256_sub_epi32(tot[m], _mm256_slli_epi32(corr, 5));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(meta + 16 * h)));
    for (int m = 0; m < MR; ++m)
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot[m]), _mm256_mul_ps(_mm256_set1_ps(ad[m][b]), dw), acc[m]);
  }
  store_rows<MR>(acc, p, y, h, m0, n_valid);
}

// Q4_K / Q5_K: scales and mins unpacked for 16 rows with 256-bit ops (stored [sub-block][row]),
// chunk products summed in int16 (Q4_K: all 8 chunks, <= 8 * 2 * 15 * 127 = 30480; Q5_K: 4 at a
// time, <= 31496), then madd with (sc, sc) pairs; mins as madd((mn, mn), (bsum, 0)).
template <bool kFive, int MR>
inline void half_rows_q45_K(const PackedGemmArgs& p, const uint8_t* gw, int h, int64_t m0, float* y, int n_valid) {
  constexpr int kQB = kFive ? 2560 : 2048;
  const int64_t nb = p.K / 256;
  const uint8_t* quants = gw + p.meta_bytes + 32 * h;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m63 = _mm256_set1_epi8(63), m30 = _mm256_set1_epi8(0x30);
  const __m256i b4 = _mm256_set1_epi8(0x10);
  __m256 acc[MR];
  for (int m = 0; m < MR; ++m) acc[m] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* meta = gw + b * 256;
    const uint8_t* qb = quants + b * kQB;
    alignas(32) uint8_t sc[128], mn[128];  // [sub-block][row]
    for (int k = 0; k < 2; ++k) {
      const __m256i z0 = load256(meta + 64 + 32 * k), z1 = load256(meta + 128 + 32 * k), z2 = load256(meta + 192 + 32 * k);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sc + 32 * k), _mm256_and_si256(z0, m63));
      _mm256_store_si256(reinterpret_cast<__m256i*>(mn + 32 * k), _mm256_and_si256(z1, m63));
      _mm256_store_si256(reinterpret_cast<__m256i*>(sc + 64 + 32 * k),
                         _mm256_or_si256(_mm256_and_si256(z2, m4), _mm256_and_si256(_mm256_srli_epi16(z0, 2), m30)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(mn + 64 + 32 * k),
                         _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(z2, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(z1, 2), m30)));
    }
    auto pairs = [&](const uint8_t* v) {  // 8 rows' bytes -> (v, v) int16 pairs per lane
      int64_t u;
      __builtin_memcpy(&u, v + 8 * h, 8);
      const __m256i x = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(u));
      return _mm256_or_si256(_mm256_slli_epi32(x, 16), x);
    };
    __m256i tot[MR], mt[MR];
    for (int m = 0; m < MR; ++m) tot[m] = mt[m] = _mm256_setzero_si256();
    for (int s = 0; s < 8; ++s) {
      __m256i w[8];
      for (int c = 0; c < 8; ++c) {
        const __m256i v = load256(qb + 512 * (s / 2) + 64 * c);
        w[c] = _mm256_and_si256(s % 2 ? _mm256_srli_epi16(v, 4) : v, m4);
        if constexpr (kFive) {  // bit s of the qh bytes -> bit 4
          const __m256i hv = load256(qb + 2048 + 64 * c);
          const __m256i hb = s <= 4 ? _mm256_sll_epi16(hv, _mm_cvtsi32_si128(4 - s))
                                    : _mm256_srl_epi16(hv, _mm_cvtsi32_si128(s - 4));
          w[c] = _mm256_or_si256(w[c], _mm256_and_si256(hb, b4));
        }
      }
      const __m256i sc16 = pairs(sc + 16 * s), mn16 = pairs(mn + 16 * s);
#pragma GCC unroll 2
      for (int m = 0; m < MR; ++m) {
        const int8_t* a = p.a.q + (m0 + m) * p.K + 256 * b + 32 * s;
        __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], bcast4(a)), _mm256_maddubs_epi16(w[1], bcast4(a + 4)));
        p0 = _mm256_add_epi16(p0, _mm256_add_epi16(_mm256_maddubs_epi16(w[2], bcast4(a + 8)),
                                                   _mm256_maddubs_epi16(w[3], bcast4(a + 12))));
        __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(w[4], bcast4(a + 16)), _mm256_maddubs_epi16(w[5], bcast4(a + 20)));
        p1 = _mm256_add_epi16(p1, _mm256_add_epi16(_mm256_maddubs_epi16(w[6], bcast4(a + 24)),
                                                   _mm256_maddubs_epi16(w[7], bcast4(a + 28))));
        if constexpr (kFive) {
          tot[m] = _mm256_add_epi32(tot[m], _mm256_add_epi32(_mm256_madd_epi16(p0, sc16), _mm256_madd_epi16(p1, sc16)));
        } else {
          tot[m] = _mm256_add_epi32(tot[m], _mm256_madd_epi16(_mm256_add_epi16(p0, p1), sc16));
        }
        const int32_t* bs = p.a.s + (m0 + m) * nb * 16 + 16 * b + 2 * s;
        mt[m] = _mm256_add_epi32(mt[m], _mm256_madd_epi16(mn16, _mm256_set1_epi32((bs[0] + bs[1]) & 0xFFFF)));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(meta + 16 * h)));
    const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(meta + 32 + 16 * h)));
    for (int m = 0; m < MR; ++m) {
      const __m256 da = _mm256_set1_ps(p.a.d[(m0 + m) * nb + b]);
      acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot[m]), _mm256_mul_ps(da, dw), acc[m]);
      acc[m] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mt[m]), _mm256_mul_ps(da, dmw), acc[m]);
    }
  }
  store_rows<MR>(acc, p, y, h, m0, n_valid);
}

template <DType kType, int MR>
inline void rows_of(const PackedGemmArgs& p, const uint8_t* gw, int h, int64_t m0, float* y, int n_valid) {
  constexpr bool kK45 = kType == DType::Q4_K || kType == DType::Q5_K;
  if constexpr (kType == DType::Q6_K) {
    half_rows_q6_K<MR>(p, gw, h, m0, y, n_valid);
  } else if constexpr (kK45 && MR > 2) {  // 16 ymm registers: at most two activation rows at once
    half_rows_q45_K<kType == DType::Q5_K, 2>(p, gw, h, m0, y, n_valid);
    half_rows_q45_K<kType == DType::Q5_K, MR - 2>(p, gw, h, m0 + 2, y, n_valid);
  } else if constexpr (kK45) {
    half_rows_q45_K<kType == DType::Q5_K, MR>(p, gw, h, m0, y, n_valid);
  } else {
    half_rows<kType, MR>(p, gw, h, m0, y, n_valid);
  }
}

template <DType kType>
void gemm(const PackedGemmArgs& p, int64_t g0, int64_t g1) {
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* gw = p.w + uint64_t(g) * p.group_bytes;
    const int n_valid = int(p.N - g * kPackRows < kPackRows ? p.N - g * kPackRows : kPackRows);
    float* y = p.y + g * kPackRows;
    for (int h = 0; h < 2 && 8 * h < n_valid; ++h) {
      int64_t m = 0;
      for (; m + 4 <= p.a.M; m += 4) rows_of<kType, 4>(p, gw, h, m, y, n_valid);
      switch (p.a.M - m) {
        case 3: rows_of<kType, 3>(p, gw, h, m, y, n_valid); break;
        case 2: rows_of<kType, 2>(p, gw, h, m, y, n_valid); break;
        case 1: rows_of<kType, 1>(p, gw, h, m, y, n_valid); break;
        default: break;
      }
    }
  }
}

}  // namespace
}  // namespace si::cpu

#pragma GCC pop_options

namespace si::cpu {
const PackedKernels* packed_kernels_avx2() {
  const auto& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return nullptr;
  static const PackedKernels k = [] {
    PackedKernels t;
    t.gemm[packed_slot(DType::Q8_0)] = gemm<DType::Q8_0>;
    t.gemm[packed_slot(DType::Q4_0)] = gemm<DType::Q4_0>;
    t.gemm[packed_slot(DType::Q6_K)] = gemm<DType::Q6_K>;
    t.gemm[packed_slot(DType::Q4_K)] = gemm<DType::Q4_K>;
    t.gemm[packed_slot(DType::Q5_K)] = gemm<DType::Q5_K>;
    t.name = "avx2";
    return t;
  }();
  return &k;
}
}  // namespace si::cpu
