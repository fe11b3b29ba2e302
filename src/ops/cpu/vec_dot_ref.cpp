// Scalar reference dot products: weight row (stored type) . activation row (vec_dot_type). The
// definition the SIMD paths are tested against: each block's integer sum is exact, scales are
// applied per block (per super-block for K-quants) and the block results summed in order.
#include "core/half.h"
#include "ops/cpu/quants_impl.h"

namespace si::cpu::quants {
namespace {

void dot_f32(int64_t n, const void* w, const void* a, float* out) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  double s = 0;  // the reference: as exact as is cheap
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(y[i]);
  *out = float(s);
}

void dot_f16(int64_t n, const void* w, const void* a, float* out) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const uint16_t* y = static_cast<const uint16_t*>(a);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(f16_to_f32(x[i])) * double(f16_to_f32(y[i]));
  *out = float(s);
}

void dot_bf16(int64_t n, const void* w, const void* a, float* out) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const uint16_t* y = static_cast<const uint16_t*>(a);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(bf16_to_f32(x[i])) * double(bf16_to_f32(y[i]));
  *out = float(s);
}

void dot_q4_0(int64_t n, const void* w, const void* a, float* out) {
  const block_q4_0* x = static_cast<const block_q4_0*>(w);
  const block_q8_0* y = static_cast<const block_q8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / QK4_0; ++i) {
    int sumi = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK4_0 / 2];
    }
    s += float(sumi) * (f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
  }
  *out = s;
}

void dot_q8_0(int64_t n, const void* w, const void* a, float* out) {
  const block_q8_0* x = static_cast<const block_q8_0*>(w);
  const block_q8_0* y = static_cast<const block_q8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    int sumi = 0;
    for (int j = 0; j < QK8_0; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    s += float(sumi) * (f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
  }
  *out = s;
}

// K-quants with mins: sum = d * sum_j sc_j * (q_j . a_j) - dmin * sum_j m_j * (sum of a_j), the
// second term from the activation's 16-element bsums.
void dot_q4_K(int64_t n, const void* w, const void* a, float* out) {
  const block_q4_K* x = static_cast<const block_q4_K*>(w);
  const block_q8_K* y = static_cast<const block_q8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, x[i].scales, &sc, &m);
      const uint8_t* q = x[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int dot = 0;
      for (int l = 0; l < 32; ++l) dot += ((q[l] >> shift) & 0xF) * y[i].qs[32 * j + l];
      sumi += sc * dot;
      summ += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    s += y[i].d * f16_to_f32(x[i].d) * float(sumi) - y[i].d * f16_to_f32(x[i].dmin) * float(summ);
  }
  *out = s;
}

void dot_q5_K(int64_t n, const void* w, const void* a, float* out) {
  const block_q5_K* x = static_cast<const block_q5_K*>(w);
  const block_q8_K* y = static_cast<const block_q8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, x[i].scales, &sc, &m);
      const uint8_t* q = x[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int dot = 0;
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 0xF) | (((x[i].qh[l] >> j) & 1) << 4);
        dot += v * y[i].qs[32 * j + l];
      }
      sumi += sc * dot;
      summ += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    s += y[i].d * f16_to_f32(x[i].d) * float(sumi) - y[i].d * f16_to_f32(x[i].dmin) * float(summ);
  }
  *out = s;
}

void dot_q6_K(int64_t n, const void* w, const void* a, float* out) {
  const block_q6_K* x = static_cast<const block_q6_K*>(w);
  const block_q8_K* y = static_cast<const block_q8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0;
    for (int h = 0; h < 2; ++h) {  // halves of 128
      const uint8_t* ql = x[i].ql + 64 * h;
      const uint8_t* qh = x[i].qh + 32 * h;
      const int8_t* sc = x[i].scales + 8 * h;
      const int8_t* q8 = y[i].qs + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        sumi += sc[is + 0] * q1 * q8[l] + sc[is + 2] * q2 * q8[l + 32] + sc[is + 4] * q3 * q8[l + 64] +
                sc[is + 6] * q4 * q8[l + 96];
      }
    }
    s += y[i].d * f16_to_f32(x[i].d) * float(sumi);
  }
  *out = s;
}

void dot_q8_K(int64_t n, const void* w, const void* a, float* out) {
  const block_q8_K* x = static_cast<const block_q8_K*>(w);
  const block_q8_K* y = static_cast<const block_q8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int sumi = 0;
    for (int j = 0; j < QK_K; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    s += x[i].d * y[i].d * float(sumi);
  }
  *out = s;
}

DotTable make_table() {
  DotTable t;
  t.dot[int(DType::F32)] = dot_f32;
  t.dot[int(DType::F16)] = dot_f16;
  t.dot[int(DType::BF16)] = dot_bf16;
  t.dot[int(DType::Q4_0)] = dot_q4_0;
  t.dot[int(DType::Q8_0)] = dot_q8_0;
  t.dot[int(DType::Q4_K)] = dot_q4_K;
  t.dot[int(DType::Q5_K)] = dot_q5_K;
  t.dot[int(DType::Q6_K)] = dot_q6_K;
  t.dot[int(DType::Q8_K)] = dot_q8_K;
  t.name = "scalar";
  return t;
}

}  // namespace

const DotTable& dot_table_ref() {
  static const DotTable table = make_table();
  return table;
}

}  // namespace si::cpu::quants
