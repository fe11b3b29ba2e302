#include "train/cpu_fast.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace si::train::fast {

void linear_forward(float* y, const float* x, const float* W, int64_t N, int64_t I, int64_t O) {
  // y (N, O) = x (N, I) * W^T
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(N), int(O), int(I), 1.0f, x, int(I), W, int(I), 0.0f, y, int(O));
}

void linear_backward(float* dx, float* dW, const float* dy, const float* x, const float* W, int64_t N, int64_t I, int64_t O) {
  // dx (N, I) += dy (N, O) * W (O, I)
  if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(N), int(I), int(O), 1.0f, dy, int(O), W, int(I), 1.0f, dx, int(I));
  // dW (O, I) += dy^T (O, N) * x (N, I)
  if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(O), int(I), int(N), 1.0f, dy, int(O), x, int(I), 1.0f, dW, int(I));
}

namespace {

void run(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& task) {
  if (!pool) {
    for (int64_t i = 0; i < n; i++) task(i);
    return;
  }
  pool->parallel_for(n, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; i++) task(i);
  });
}

}  // namespace

void attention_forward(ThreadPool* pool, float* out, float* probs, const float* q, const float* k, const float* v, int64_t B,
                       int64_t T, int64_t H, int64_t KV, int64_t D) {
  // Per (batch, head): S = scale * Q K^T and O = P V as sgemm calls (BLAS threads them; computing the
  // masked upper triangle too costs 2x flops but runs ~10x faster than scalar loops); the causal
  // softmax in between is a cheap row loop, parallel over rows.
  const int64_t group = H / KV;
  const float scale = 1.0f / std::sqrt(float(D));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      const int64_t kh = h / group;
      const float* Q = q + b * T * H * D + h * D;   // (T, D), row stride H*D
      const float* K = k + b * T * KV * D + kh * D; // (T, D), row stride KV*D
      const float* V = v + b * T * KV * D + kh * D;
      float* P = probs + (b * H + h) * T * T;       // (T, T)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(T), int(D), scale, Q, int(H * D), K, int(KV * D), 0.0f, P,
                  int(T));
      run(pool, T, [&](int64_t t) {
        float* p = P + t * T;
        float mx = -INFINITY;
        for (int64_t s = 0; s <= t; s++) mx = std::max(mx, p[s]);
        float sum = 0.0f;
        for (int64_t s = 0; s <= t; s++) {
          p[s] = std::exp(p[s] - mx);
          sum += p[s];
        }
        const float inv = 1.0f / sum;
        for (int64_t s = 0; s <= t; s++) p[s] *= inv;
        for (int64_t s = t + 1; s < T; s++) p[s] = 0.0f;
      });
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(D), int(T), 1.0f, P, int(T), V, int(KV * D), 0.0f,
                  out + b * T * H * D + h * D, int(H * D));
    }
}

void attention_backward(ThreadPool* pool, float* dq, float* dk, float* dv, const float* dout, const float* probs,
                        const float* q, const float* k, const float* v, int64_t B, int64_t T, int64_t H, int64_t KV,
                        int64_t D) {
  const int64_t group = H / KV;
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<float> dS(static_cast<size_t>(T * T));  // (T, T) dP, then d(scaled scores)
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      const int64_t kh = h / group;
      const float* Q = q + b * T * H * D + h * D;
      const float* K = k + b * T * KV * D + kh * D;
      const float* V = v + b * T * KV * D + kh * D;
      const float* dO = dout + b * T * H * D + h * D;
      const float* P = probs + (b * H + h) * T * T;
      // dP = dO V^T
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(T), int(D), 1.0f, dO, int(H * D), V, int(KV * D), 0.0f,
                  dS.data(), int(T));
      run(pool, T, [&](int64_t t) {  // softmax backward, causal rows
        const float* p = P + t * T;
        float* d = dS.data() + t * T;
        float pdp = 0.0f;
        for (int64_t s = 0; s <= t; s++) pdp += p[s] * d[s];
        for (int64_t s = 0; s <= t; s++) d[s] = p[s] * (d[s] - pdp) * scale;
        for (int64_t s = t + 1; s < T; s++) d[s] = 0.0f;
      });
      // dQ += dS K ; dK += dS^T Q ; dV += P^T dO
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(D), int(T), 1.0f, dS.data(), int(T), K, int(KV * D), 1.0f,
                  dq + b * T * H * D + h * D, int(H * D));
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(T), int(D), int(T), 1.0f, dS.data(), int(T), Q, int(H * D), 1.0f,
                  dk + b * T * KV * D + kh * D, int(KV * D));
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(T), int(D), int(T), 1.0f, P, int(T), dO, int(H * D), 1.0f,
                  dv + b * T * KV * D + kh * D, int(KV * D));
    }
}

}  // namespace si::train::fast
