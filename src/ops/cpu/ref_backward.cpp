// Plain-loop reference ops. Dot products accumulate in double so the float instantiation is a good
// reference for the fast paths; the double instantiation is what finite differences check.
#include "ops/cpu/ref_backward.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace si::ref {

template <typename T> void embedding_forward(T* out, const int32_t* ids, const T* table, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) std::memcpy(out + n * C, table + int64_t(ids[n]) * C, sizeof(T) * size_t(C));
}

template <typename T> void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    T* row = dtable + int64_t(ids[n]) * C;
    const T* g = dout + n * C;
    for (int64_t c = 0; c < C; c++) row[c] += g[c];
  }
}

template <typename T> void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; n++) {
    const T* xr = x + n * C;
    double ss = 0;
    for (int64_t c = 0; c < C; c++) ss += double(xr[c]) * double(xr[c]);
    const T r = T(1.0 / std::sqrt(ss / double(C) + double(eps)));
    rstd[n] = r;
    for (int64_t c = 0; c < C; c++) y[n * C + c] = w[c] * (xr[c] * r);
  }
}

template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    const T* xr = x + n * C;
    const T* g = dy + n * C;
    const double r = double(rstd[n]);
    // d/dx_j of w_i x_i r = r w_j g_j - r^3 / C * x_j * sum_i g_i w_i x_i
    double dot = 0;
    for (int64_t c = 0; c < C; c++) dot += double(g[c]) * double(w[c]) * double(xr[c]);
    const double k = dot * r * r * r / double(C);
    for (int64_t c = 0; c < C; c++) {
      dx[n * C + c] += T(r * double(w[c]) * double(g[c]) - k * double(xr[c]));
      if (dw) dw[c] += T(double(g[c]) * double(xr[c]) * r);
    }
  }
}

template <typename T> void linear_forward(T* y, const T* x, const T* W, int64_t N, int64_t I, int64_t O) {
  for (int64_t n = 0; n < N; n++) {
    const T* xr = x + n * I;
    for (int64_t o = 0; o < O; o++) {
      const T* wr = W + o * I;
      double acc = 0;
      for (int64_t i = 0; i < I; i++) acc += double(xr[i]) * double(wr[i]);
      y[n * O + o] = T(acc);
    }
  }
}

template <typename T>
void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int64_t N, int64_t I, int64_t O) {
  if (dx) {
    std::vector<double> acc(static_cast<size_t>(I));
    for (int64_t n = 0; n < N; n++) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t o = 0; o < O; o++) {
        const double g = double(dy[n * O + o]);
        const T* wr = W + o * I;
        for (int64_t i = 0; i < I; i++) acc[size_t(i)] += g * double(wr[i]);
      }
      for (int64_t i = 0; i < I; i++) dx[n * I + i] += T(acc[size_t(i)]);
    }
  }
  if (dW) {
    for (int64_t o = 0; o < O; o++) {
      for (int64_t i = 0; i < I; i++) {
        double acc = 0;
        for (int64_t n = 0; n < N; n++) acc += double(dy[n * O + o]) * double(x[n * I + i]);
        dW[o * I + i] += T(acc);
      }
    }
  }
}

template <typename T> void rope_forward(T* x, const T* cos, const T* sin, int64_t B, int64_t T_, int64_t nh, int64_t D) {
  const int64_t half = D / 2;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T_; t++)
      for (int64_t h = 0; h < nh; h++) {
        T* v = x + ((b * T_ + t) * nh + h) * D;
        for (int64_t i = 0; i < half; i++) {
          const T c = cos[t * half + i], s = sin[t * half + i];
          const T x1 = v[i], x2 = v[i + half];
          // HF: q * cos + rotate_half(q) * sin, rotate_half(q) = cat(-q2, q1)
          v[i] = x1 * c + (-x2) * s;
          v[i + half] = x2 * c + x1 * s;
        }
      }
}

template <typename T> void rope_backward(T* dx, const T* cos, const T* sin, int64_t B, int64_t T_, int64_t nh, int64_t D) {
  const int64_t half = D / 2;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T_; t++)
      for (int64_t h = 0; h < nh; h++) {
        T* g = dx + ((b * T_ + t) * nh + h) * D;
        for (int64_t i = 0; i < half; i++) {
          const T c = cos[t * half + i], s = sin[t * half + i];
          const T g1 = g[i], g2 = g[i + half];
          g[i] = g1 * c + g2 * s;
          g[i + half] = g2 * c - g1 * s;
        }
      }
}

template <typename T>
void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, int64_t B, int64_t T_, int64_t H, int64_t KV,
                       int64_t D) {
  const int64_t group = H / KV;
  const double scale = 1.0 / std::sqrt(double(D));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      const int64_t kh = h / group;
      for (int64_t t = 0; t < T_; t++) {
        const T* qt = q + (b * T_ + t) * H * D + h * D;
        T* p = probs + ((b * H + h) * T_ + t) * T_;  // (T) row of (B, H, T, T)
        double mx = -INFINITY;
        for (int64_t s = 0; s <= t; s++) {
          const T* ks = k + (b * T_ + s) * KV * D + kh * D;
          double dot = 0;
          for (int64_t d = 0; d < D; d++) dot += double(qt[d]) * double(ks[d]);
          p[s] = T(dot * scale);
          mx = std::max(mx, double(p[s]));
        }
        double sum = 0;
        for (int64_t s = 0; s <= t; s++) {
          const double e = std::exp(double(p[s]) - mx);
          p[s] = T(e);
          sum += e;
        }
        for (int64_t s = 0; s <= t; s++) p[s] = T(double(p[s]) / sum);
        for (int64_t s = t + 1; s < T_; s++) p[s] = T(0);
        T* ot = out + (b * T_ + t) * H * D + h * D;
        for (int64_t d = 0; d < D; d++) {
          double acc = 0;
          for (int64_t s = 0; s <= t; s++) acc += double(p[s]) * double(v[(b * T_ + s) * KV * D + kh * D + d]);
          ot[d] = T(acc);
        }
      }
    }
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k, const T* v, int64_t B,
                        int64_t T_, int64_t H, int64_t KV, int64_t D) {
  const int64_t group = H / KV;
  const double scale = 1.0 / std::sqrt(double(D));
  std::vector<double> dp(static_cast<size_t>(T_));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      const int64_t kh = h / group;
      for (int64_t t = 0; t < T_; t++) {
        const T* p = probs + ((b * H + h) * T_ + t) * T_;
        const T* go = dout + (b * T_ + t) * H * D + h * D;
        const T* qt = q + (b * T_ + t) * H * D + h * D;
        T* dqt = dq + (b * T_ + t) * H * D + h * D;
        double pdp = 0;  // sum_s p_s dp_s, the softmax Jacobian's rank-one part
        for (int64_t s = 0; s <= t; s++) {
          const T* vs = v + (b * T_ + s) * KV * D + kh * D;
          T* dvs = dv + (b * T_ + s) * KV * D + kh * D;
          double acc = 0;
          for (int64_t d = 0; d < D; d++) {
            acc += double(go[d]) * double(vs[d]);
            dvs[d] += T(double(p[s]) * double(go[d]));
          }
          dp[size_t(s)] = acc;
          pdp += double(p[s]) * acc;
        }
        for (int64_t s = 0; s <= t; s++) {
          const double ds = double(p[s]) * (dp[size_t(s)] - pdp) * scale;  // d score (pre-scale)
          const T* ks = k + (b * T_ + s) * KV * D + kh * D;
          T* dks = dk + (b * T_ + s) * KV * D + kh * D;
          for (int64_t d = 0; d < D; d++) {
            dqt[d] += T(ds * double(ks[d]));
            dks[d] += T(ds * double(qt[d]));
          }
        }
      }
    }
}

template <typename T> void swiglu_forward(T* out, const T* gate, const T* up, int64_t N, int64_t F) {
  for (int64_t i = 0; i < N * F; i++) {
    const T g = gate[i];
    out[i] = (g / (T(1) + std::exp(-g))) * up[i];  // torch silu: x * sigmoid(x) = x / (1 + exp(-x))
  }
}

template <typename T> void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t N, int64_t F) {
  for (int64_t i = 0; i < N * F; i++) {
    const double g = double(gate[i]);
    const double sg = 1.0 / (1.0 + std::exp(-g));
    const double silu = g * sg;
    dup[i] += T(double(dout[i]) * silu);
    dgate[i] += T(double(dout[i]) * double(up[i]) * (sg + g * sg * (1.0 - sg)));
  }
}

template <typename T>
double cross_entropy_forward(const T* logits, const int32_t* targets, int64_t N, int64_t V, int64_t* n_valid, const T* weights) {
  double total = 0;
  int64_t count = 0;
  for (int64_t n = 0; n < N; n++) {
    if (targets[n] < 0) continue;
    const T* l = logits + n * V;
    double mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) mx = std::max(mx, double(l[j]));
    double sum = 0;
    for (int64_t j = 0; j < V; j++) sum += std::exp(double(l[j]) - mx);
    total += (weights ? double(weights[n]) : 1.0) * (std::log(sum) + mx - double(l[targets[n]]));
    count++;
  }
  if (n_valid) *n_valid = count;
  return count ? total / double(count) : 0.0;
}

template <typename T>
void cross_entropy_backward(T* dlogits, const T* logits, const int32_t* targets, int64_t N, int64_t V, double scale,
                            const T* weights) {
  for (int64_t n = 0; n < N; n++) {
    const double k = weights ? scale * double(weights[n]) : scale;
    T* d = dlogits + n * V;
    if (targets[n] < 0) {
      std::fill(d, d + V, T(0));
      continue;
    }
    const T* l = logits + n * V;
    double mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) mx = std::max(mx, double(l[j]));
    double sum = 0;
    for (int64_t j = 0; j < V; j++) sum += std::exp(double(l[j]) - mx);
    for (int64_t j = 0; j < V; j++) d[j] = T(k * std::exp(double(l[j]) - mx) / sum);
    d[targets[n]] -= T(k);
  }
}

#define SI_REF_INSTANTIATE(T)                                                                                  \
  template void embedding_forward<T>(T*, const int32_t*, const T*, int64_t, int64_t);                          \
  template void embedding_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t);                         \
  template void rmsnorm_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t, float);                       \
  template void rmsnorm_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t);         \
  template void linear_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);                          \
  template void linear_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);           \
  template void rope_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t);                   \
  template void rope_backward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t);                  \
  template void attention_forward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t, \
                                     int64_t);                                                                 \
  template void attention_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t,   \
                                      int64_t, int64_t, int64_t, int64_t);                                     \
  template void swiglu_forward<T>(T*, const T*, const T*, int64_t, int64_t);                                   \
  template void swiglu_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t);                    \
  template double cross_entropy_forward<T>(const T*, const int32_t*, int64_t, int64_t, int64_t*, const T*);    \
  template void cross_entropy_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t, double, const T*);

SI_REF_INSTANTIATE(float)
SI_REF_INSTANTIATE(double)

}  // namespace si::ref
