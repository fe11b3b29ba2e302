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
  const int64_t group = H / KV;
  const float scale = 1.0f / std::sqrt(float(D));
  run(pool, B * KV, [&](int64_t task) {
    const int64_t b = task / KV, kh = task % KV;
    for (int64_t h = kh * group; h < (kh + 1) * group; h++)
      for (int64_t t = 0; t < T; t++) {
        const float* qt = q + (b * T + t) * H * D + h * D;
        float* p = probs + ((b * H + h) * T + t) * T;  // (T)
        float mx = -INFINITY;
        for (int64_t s = 0; s <= t; s++) {
          const float* ks = k + (b * T + s) * KV * D + kh * D;
          float dot = 0.0f;
          for (int64_t d = 0; d < D; d++) dot += qt[d] * ks[d];
          p[s] = dot * scale;
          mx = std::max(mx, p[s]);
        }
        float sum = 0.0f;
        for (int64_t s = 0; s <= t; s++) {
          p[s] = std::exp(p[s] - mx);
          sum += p[s];
        }
        const float inv = 1.0f / sum;
        for (int64_t s = 0; s <= t; s++) p[s] *= inv;
        for (int64_t s = t + 1; s < T; s++) p[s] = 0.0f;
        float* ot = out + (b * T + t) * H * D + h * D;
        for (int64_t d = 0; d < D; d++) ot[d] = 0.0f;
        for (int64_t s = 0; s <= t; s++) {
          const float* vs = v + (b * T + s) * KV * D + kh * D;
          for (int64_t d = 0; d < D; d++) ot[d] += p[s] * vs[d];
        }
      }
  });
}

void attention_backward(ThreadPool* pool, float* dq, float* dk, float* dv, const float* dout, const float* probs,
                        const float* q, const float* k, const float* v, int64_t B, int64_t T, int64_t H, int64_t KV,
                        int64_t D) {
  const int64_t group = H / KV;
  const float scale = 1.0f / std::sqrt(float(D));
  run(pool, B * KV, [&](int64_t task) {
    const int64_t b = task / KV, kh = task % KV;
    std::vector<float> dp(static_cast<size_t>(T));
    for (int64_t h = kh * group; h < (kh + 1) * group; h++)
      for (int64_t t = 0; t < T; t++) {
        const float* p = probs + ((b * H + h) * T + t) * T;
        const float* go = dout + (b * T + t) * H * D + h * D;
        const float* qt = q + (b * T + t) * H * D + h * D;
        float* dqt = dq + (b * T + t) * H * D + h * D;
        float pdp = 0.0f;
        for (int64_t s = 0; s <= t; s++) {
          const float* vs = v + (b * T + s) * KV * D + kh * D;
          float* dvs = dv + (b * T + s) * KV * D + kh * D;
          float acc = 0.0f;
          for (int64_t d = 0; d < D; d++) {
            acc += go[d] * vs[d];
            dvs[d] += p[s] * go[d];
          }
          dp[size_t(s)] = acc;
          pdp += p[s] * acc;
        }
        for (int64_t s = 0; s <= t; s++) {
          const float ds = p[s] * (dp[size_t(s)] - pdp) * scale;
          const float* ks = k + (b * T + s) * KV * D + kh * D;
          float* dks = dk + (b * T + s) * KV * D + kh * D;
          for (int64_t d = 0; d < D; d++) {
            dqt[d] += ds * ks[d];
            dks[d] += ds * qt[d];
          }
        }
      }
  });
}

}  // namespace si::train::fast
