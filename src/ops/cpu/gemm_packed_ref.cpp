// Scalar GEMM over the packed layouts of ops/cpu/gemm_packed.h: plain loops, also the scalar path.
// Per row the exact integer block sums, then the float combination of vec_dot_ref (same order),
// so this path gives vec_dot_ref's numbers and the SIMD paths are checked against both.
#include "core/half.h"
#include "ops/cpu/gemm_packed.h"
#include "ops/cpu/quants_impl.h"

namespace si::cpu {
namespace {

// Unsigned value of element e (0..31) of a Q8_0 / Q4_0 block of row `lane`.
inline int q_value(DType t, const uint8_t* quant, int lane, int e) {
  const int pos = 4 * lane + e % 4;
  if (t == DType::Q8_0) return quant[(e / 4) * 64 + pos];
  const uint8_t byte = quant[((e % 16) / 4) * 64 + pos];
  return e < 16 ? byte & 0x0F : byte >> 4;
}

template <DType kType>
void gemm_q_0(const PackedGemmArgs& p, int64_t g0, int64_t g1) {
  const PackedLayout l = packed_layout(kType);
  const int64_t nb = p.K / 32;
  const int bias = kType == DType::Q8_0 ? 128 : 8;
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* gw = p.w + uint64_t(g) * p.group_bytes;
    const uint8_t* quants = gw + p.meta_bytes;
    for (int r = 0; r < kPackRows && g * kPackRows + r < p.N; ++r) {
      for (int64_t m = 0; m < p.a.M; ++m) {
        const int8_t* aq = p.a.q + m * p.K;
        float s = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
          int sumi = 0;
          for (int e = 0; e < 32; ++e) sumi += q_value(kType, quants + b * l.quant, r, e) * aq[b * 32 + e];
          sumi -= bias * p.a.s[m * nb + b];
          uint16_t d;
          __builtin_memcpy(&d, gw + b * l.meta + 2 * r, 2);
          s += float(sumi) * (f16_to_f32(d) * p.a.d[m * nb + b]);
        }
        p.y[m * p.ldy + g * kPackRows + r] = s;
      }
    }
  }
}

void gemm_q6_K(const PackedGemmArgs& p, int64_t g0, int64_t g1) {
  const PackedLayout l = packed_layout(DType::Q6_K);
  const int64_t nb = p.K / 256;
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* gw = p.w + uint64_t(g) * p.group_bytes;
    const uint8_t* quants = gw + p.meta_bytes;
    for (int r = 0; r < kPackRows && g * kPackRows + r < p.N; ++r) {
      for (int64_t m = 0; m < p.a.M; ++m) {
        const int8_t* aq = p.a.q + m * p.K;
        float s = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* meta = gw + b * l.meta;
          int sumi = 0;
          for (int sb = 0; sb < 16; ++sb) {
            const uint8_t* sub = quants + b * l.quant + 192 * sb;
            int dot = 0;
            for (int c = 0; c < 4; ++c)
              for (int j = 0; j < 4; ++j) {
                const int pos = 4 * r + j;
                const int q = ((sub[64 * (c / 2) + pos] >> (4 * (c % 2))) & 0xF) | (((sub[128 + pos] >> (2 * c)) & 3) << 4);
                dot += q * aq[b * 256 + 16 * sb + 4 * c + j];
              }
            dot -= 32 * p.a.s[m * nb * 16 + b * 16 + sb];
            sumi += int(int8_t(meta[32 + 16 * sb + r])) * dot;
          }
          uint16_t d;
          __builtin_memcpy(&d, meta + 2 * r, 2);
          s += p.a.d[m * nb + b] * f16_to_f32(d) * float(sumi);
        }
        p.y[m * p.ldy + g * kPackRows + r] = s;
      }
    }
  }
}

// Q4_K / Q5_K: d * sum_s sc_s * (q_s . a_s) - dmin * sum_s m_s * (sum of a_s), as vec_dot_ref.
template <DType kType>
void gemm_q45_K(const PackedGemmArgs& p, int64_t g0, int64_t g1) {
  const PackedLayout l = packed_layout(kType);
  const int64_t nb = p.K / 256;
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* gw = p.w + uint64_t(g) * p.group_bytes;
    const uint8_t* quants = gw + p.meta_bytes;
    for (int r = 0; r < kPackRows && g * kPackRows + r < p.N; ++r) {
      for (int64_t m = 0; m < p.a.M; ++m) {
        const int8_t* aq = p.a.q + m * p.K;
        const int32_t* bsums = p.a.s + m * nb * 16;
        float s = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* meta = gw + b * l.meta;
          const uint8_t* quant = quants + b * l.quant;
          uint8_t scales[12];
          for (int j = 0; j < 12; ++j) scales[j] = meta[64 + 16 * j + r];
          int sumi = 0, summ = 0;
          for (int sb = 0; sb < 8; ++sb) {
            uint8_t sc, mn;
            quants::get_scale_min_k4(sb, scales, &sc, &mn);
            int dot = 0;
            for (int c = 0; c < 8; ++c)
              for (int j = 0; j < 4; ++j) {
                const int pos = 4 * r + j;
                int q = (quant[512 * (sb / 2) + 64 * c + pos] >> (4 * (sb % 2))) & 0xF;
                if (kType == DType::Q5_K) q |= ((quant[2048 + 64 * c + pos] >> sb) & 1) << 4;
                dot += q * aq[b * 256 + 32 * sb + 4 * c + j];
              }
            sumi += sc * dot;
            summ += mn * (bsums[b * 16 + 2 * sb] + bsums[b * 16 + 2 * sb + 1]);
          }
          uint16_t d, dmin;
          __builtin_memcpy(&d, meta + 2 * r, 2);
          __builtin_memcpy(&dmin, meta + 32 + 2 * r, 2);
          const float da = p.a.d[m * nb + b];
          s += da * f16_to_f32(d) * float(sumi) - da * f16_to_f32(dmin) * float(summ);
        }
        p.y[m * p.ldy + g * kPackRows + r] = s;
      }
    }
  }
}

}  // namespace

const PackedKernels& packed_kernels_ref() {
  static const PackedKernels k = [] {
    PackedKernels t;
    t.gemm[packed_slot(DType::Q8_0)] = gemm_q_0<DType::Q8_0>;
    t.gemm[packed_slot(DType::Q4_0)] = gemm_q_0<DType::Q4_0>;
    t.gemm[packed_slot(DType::Q6_K)] = gemm_q6_K;
    t.gemm[packed_slot(DType::Q4_K)] = gemm_q45_K<DType::Q4_K>;
    t.gemm[packed_slot(DType::Q5_K)] = gemm_q45_K<DType::Q5_K>;
    t.name = "scalar";
    return t;
  }();
  return k;
}

}  // namespace si::cpu
