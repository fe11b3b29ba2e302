// Scalar kernels: the fallback on CPUs without AVX2+FMA+F16C. Plain loops, one output at a time.
#include <cstring>

#include "core/half.h"
#include "ops/cpu/kernels.h"

namespace si::cpu {
namespace {

inline float load_w(const uint8_t* p, int64_t k, WeightKind kind) {
  if (kind == WeightKind::F32) { float v; std::memcpy(&v, p + 4 * k, 4); return v; }
  uint16_t h;
  std::memcpy(&h, p + 2 * k, 2);
  return kind == WeightKind::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

template <WeightKind kKind>
void gemm(const GemmArgs& a, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* w = a.w + uint64_t(a.rows ? a.rows[n] : n) * a.w_row_bytes;
    for (int64_t m = 0; m < a.M; ++m) {
      const float* x = a.x + m * a.ldx;
      float s = 0.0f;
      for (int64_t k = 0; k < a.K; ++k) s += x[k] * load_w(w, k, kKind);
      a.y[m * a.ldy + n] = s;
    }
  }
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace

const KernelTable& kernels_scalar() {
  static const KernelTable t{{gemm<WeightKind::F32>, gemm<WeightKind::F16>, gemm<WeightKind::BF16>}, dot, axpy};
  return t;
}

}  // namespace si::cpu
