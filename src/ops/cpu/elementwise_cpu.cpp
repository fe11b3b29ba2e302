// CPU RMSNorm, RoPE, SwiGLU and residual add. These are O(T*C) next to the O(T*C^2) matmuls, so
// the fast versions are the reference loops split over rows across threads (with fp32 partial sums
// the compiler can vectorize), not hand-written SIMD.
#include <cmath>

#include "ops/cpu/cpu_ops.h"

namespace si::cpu {
namespace {

void rms_norm_rows(const float* x, const float* w, float eps, float* y, int64_t t0, int64_t t1, int64_t C) {
  for (int64_t t = t0; t < t1; ++t) {
    const float* xr = x + t * C;
    float* yr = y + t * C;
    // 8 partial sums: vectorizable and no worse than one running sum for C in the thousands.
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t c = 0;
    for (; c + 8 <= C; c += 8)
      for (int j = 0; j < 8; ++j) part[j] += xr[c + j] * xr[c + j];
    float ss = 0.0f;
    for (int j = 0; j < 8; ++j) ss += part[j];
    for (; c < C; ++c) ss += xr[c] * xr[c];
    const float rstd = 1.0f / std::sqrt(ss / float(C) + eps);
    for (c = 0; c < C; ++c) yr[c] = w[c] * (xr[c] * rstd);
  }
}

void rope_rows(float* x, const float* cos, const float* sin, int64_t r0, int64_t r1, int64_t H, int64_t D,
               bool interleaved) {
  const int64_t half = D / 2;
  for (int64_t r = r0; r < r1; ++r) {  // r = t * H + h
    const int64_t t = r / H;
    float* v = x + r * D;
    const float* c = cos + t * half;
    const float* s = sin + t * half;
    if (interleaved) {
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * c[i] - b * s[i];
        v[2 * i + 1] = a * s[i] + b * c[i];
      }
    } else {
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

inline float silu(float g) { return g / (1.0f + std::exp(-g)); }

}  // namespace

void rms_norm_ref(const float* x, const float* w, float eps, float* y, int64_t T, int64_t C) {
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[t * C + c]) * x[t * C + c];
    const float rstd = float(1.0 / std::sqrt(ss / double(C) + double(eps)));
    for (int64_t c = 0; c < C; ++c) y[t * C + c] = w[c] * (x[t * C + c] * rstd);
  }
}

void rms_norm(const float* x, const float* w, float eps, float* y, int64_t T, int64_t C, ThreadPool& pool) {
  pool.parallel_for(T, [&](int64_t b, int64_t e, int) { rms_norm_rows(x, w, eps, y, b, e, C); });
}

void rope_ref(float* x, const float* cos, const float* sin, int64_t T, int64_t H, int64_t D, bool interleaved) {
  rope_rows(x, cos, sin, 0, T * H, H, D, interleaved);
}

void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t H, int64_t D, bool interleaved,
          ThreadPool& pool) {
  pool.parallel_for(T * H, [&](int64_t b, int64_t e, int) { rope_rows(x, cos, sin, b, e, H, D, interleaved); }, 4);
}

void swiglu_ref(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

void swiglu(const float* gate, const float* up, float* out, int64_t n, ThreadPool& pool) {
  pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) out[i] = silu(gate[i]) * up[i];
  }, 1024);
}

void add_ref(float* x, const float* r, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += r[i];
}

void add(float* x, const float* r, int64_t n, ThreadPool& pool) {
  pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) x[i] += r[i];
  }, 4096);
}

}  // namespace si::cpu
