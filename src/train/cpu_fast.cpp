#include "train/cpu_fast.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/thread_pool.h"
#include "ops/cpu/sgemm.h"

namespace si::train::fast {

void split(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (!pool || pool->size() == 1 || n < 2) return fn(0, n);
  pool->parallel_for(n, [&](int64_t b, int64_t e, int) { fn(b, e); });
}

void linear_forward(ThreadPool* pool, float* y, const float* x, const float* W, int64_t N, int64_t I, int64_t O) {
  // y (N, O) = x (N, I) * W^T, rows of x split over the pool
  split(pool, N, [&](int64_t n0, int64_t n1) {
    cpu::sgemm(false, true, n1 - n0, O, I, 1.0f, x + n0 * I, I, W, I, 0.0f, y + n0 * O, O);
  });
}

void linear_backward(ThreadPool* pool, float* dx, float* dW, const float* dy, const float* x, const float* W, int64_t N,
                     int64_t I, int64_t O) {
  // dx (N, I) += dy (N, O) * W (O, I), rows of dx split over the pool
  if (dx)
    split(pool, N, [&](int64_t n0, int64_t n1) {
      cpu::sgemm(false, false, n1 - n0, I, O, 1.0f, dy + n0 * O, O, W, I, 1.0f, dx + n0 * I, I);
    });
  // dW (O, I) += dy^T (O, N) * x (N, I), rows of dW split over the pool: each row sums over all N
  // in the same order for any thread count
  if (dW)
    split(pool, O, [&](int64_t o0, int64_t o1) {
      cpu::sgemm(true, false, o1 - o0, I, N, 1.0f, dy + o0, O, x, I, 1.0f, dW + o0 * I, I);
    });
}

void attention_forward(ThreadPool* pool, float* out, float* probs, const float* q, const float* k, const float* v,
                       int64_t B, int64_t T, int64_t H, int64_t KV, int64_t D) {
  // Per (batch, head): S = scale * Q K^T and O = P V as sgemm calls (computing the masked upper
  // triangle too costs 2x flops but runs ~10x faster than scalar loops), the causal softmax between.
  // One pool task per (batch, kv head) and its group of query heads.
  const int64_t group = H / KV;
  const float scale = 1.0f / std::sqrt(float(D));
  split(pool, B * KV, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++)
      for (int64_t h = (i % KV) * group; h < (i % KV + 1) * group; h++) {
        const int64_t b = i / KV, kh = i % KV;
        const float* Q = q + b * T * H * D + h * D;    // (T, D), row stride H*D
        const float* K = k + b * T * KV * D + kh * D;  // (T, D), row stride KV*D
        const float* V = v + b * T * KV * D + kh * D;
        float* P = probs + (b * H + h) * T * T;  // (T, T)
        cpu::sgemm(false, true, T, T, D, scale, Q, H * D, K, KV * D, 0.0f, P, T);
        for (int64_t t = 0; t < T; t++) {
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
        }
        cpu::sgemm(false, false, T, D, T, 1.0f, P, T, V, KV * D, 0.0f, out + b * T * H * D + h * D, H * D);
      }
  });
}

void attention_backward(ThreadPool* pool, float* dq, float* dk, float* dv, const float* dout, const float* probs,
                        const float* q, const float* k, const float* v, int64_t B, int64_t T, int64_t H, int64_t KV,
                        int64_t D) {
  // One pool task per (batch, kv head): the group's query heads add into the shared dk/dv rows in
  // head order, so the sums are the same for any thread count.
  const int64_t group = H / KV;
  const float scale = 1.0f / std::sqrt(float(D));
  split(pool, B * KV, [&](int64_t i0, int64_t i1) {
    std::vector<float> dS(static_cast<size_t>(T * T));  // (T, T) dP, then d(scaled scores)
    for (int64_t i = i0; i < i1; i++)
      for (int64_t h = (i % KV) * group; h < (i % KV + 1) * group; h++) {
        const int64_t b = i / KV, kh = i % KV;
        const float* Q = q + b * T * H * D + h * D;
        const float* K = k + b * T * KV * D + kh * D;
        const float* V = v + b * T * KV * D + kh * D;
        const float* dO = dout + b * T * H * D + h * D;
        const float* P = probs + (b * H + h) * T * T;
        // dP = dO V^T
        cpu::sgemm(false, true, T, T, D, 1.0f, dO, H * D, V, KV * D, 0.0f, dS.data(), T);
        for (int64_t t = 0; t < T; t++) {  // softmax backward, causal rows
          const float* p = P + t * T;
          float* d = dS.data() + t * T;
          float pdp = 0.0f;
          for (int64_t s = 0; s <= t; s++) pdp += p[s] * d[s];
          for (int64_t s = 0; s <= t; s++) d[s] = p[s] * (d[s] - pdp) * scale;
          for (int64_t s = t + 1; s < T; s++) d[s] = 0.0f;
        }
        // dQ += dS K ; dK += dS^T Q ; dV += P^T dO
        cpu::sgemm(false, false, T, D, T, 1.0f, dS.data(), T, K, KV * D, 1.0f, dq + b * T * H * D + h * D, H * D);
        cpu::sgemm(true, false, T, D, T, 1.0f, dS.data(), T, Q, H * D, 1.0f, dk + b * T * KV * D + kh * D, KV * D);
        cpu::sgemm(true, false, T, D, T, 1.0f, P, T, dO, H * D, 1.0f, dv + b * T * KV * D + kh * D, KV * D);
      }
  });
}

double cross_entropy_forward(ThreadPool* pool, const float* logits, const int32_t* targets, int64_t M, int64_t V,
                             const float* weights, double* lse, int64_t* n_valid) {
  std::vector<double> loss(static_cast<size_t>(M), 0.0);
  split(pool, M, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      if (targets[r] < 0) continue;
      const float* l = logits + r * V;
      float mx = -INFINITY;
      for (int64_t j = 0; j < V; j++) mx = std::max(mx, l[j]);
      double sum = 0;
      for (int64_t j = 0; j < V; j++) sum += double(std::exp(l[j] - mx));
      lse[r] = std::log(sum) + double(mx);
      loss[size_t(r)] = (weights ? double(weights[r]) : 1.0) * (lse[r] - double(l[targets[r]]));
    }
  });
  double total = 0;  // in row order: the same sum for any thread count
  int64_t count = 0;
  for (int64_t r = 0; r < M; r++)
    if (targets[r] >= 0) total += loss[size_t(r)], count++;
  if (n_valid) *n_valid = count;
  return count ? total / double(count) : 0.0;
}

void cross_entropy_backward(ThreadPool* pool, float* dlogits, const float* logits, const double* lse,
                            const int32_t* targets, int64_t M, int64_t V, double scale, const float* weights) {
  split(pool, M, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      float* d = dlogits + r * V;
      if (targets[r] < 0) {
        std::fill(d, d + V, 0.0f);
        continue;
      }
      const float* l = logits + r * V;
      const float k = float(weights ? scale * double(weights[r]) : scale);
      const float shift = float(lse[r]);
      for (int64_t j = 0; j < V; j++) d[j] = k * std::exp(l[j] - shift);
      d[targets[r]] -= k;
    }
  });
}

}  // namespace si::train::fast
