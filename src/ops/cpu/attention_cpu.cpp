// CPU attention: one (token, head) pair per work item; scores, fp32 softmax, weighted sum of V.
// The fast path uses the ISA's dot/axpy kernels over head_dim; the reference uses plain loops.
#include <cmath>
#include <vector>

#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/kernels.h"

namespace si::cpu {
namespace {

using DotFn = float (*)(const float*, const float*, int64_t);
using AxpyFn = void (*)(float, const float*, float*, int64_t);

float dot_plain(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
void axpy_plain(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// Work item r = t * H + h. `scores` holds at least max(pos)+1 floats.
void attend(const float* q, float* out, int64_t r, int H, int KVH, int D, const ops::AttnSource* src,
            const int32_t* pos, float* scores, DotFn dot, AxpyFn axpy) {
  const int64_t t = r / H;
  const int h = int(r % H);
  const int kvh = h / (H / KVH);  // query heads are grouped: heads [g*H/KVH, (g+1)*H/KVH) share kv head g
  const ops::AttnSource& s = src[t];
  const int64_t n = int64_t(pos[t]) + 1;
  const float scale = 1.0f / std::sqrt(float(D));
  const float* qv = q + r * D;
  const int64_t head_off = int64_t(kvh) * s.t_max * D;
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float* kb = (j < s.prefix_len ? s.prefix_k : s.k) + head_off + j * D;
    scores[j] = dot(qv, kb, D) * scale;
    if (scores[j] > mx) mx = scores[j];
  }
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - mx);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  float* o = out + r * D;
  for (int d = 0; d < D; ++d) o[d] = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const float* vb = (j < s.prefix_len ? s.prefix_v : s.v) + head_off + j * D;
    axpy(scores[j] * inv, vb, o, D);
  }
}

int64_t max_len(int64_t T, const int32_t* pos) {
  int64_t m = 0;
  for (int64_t t = 0; t < T; ++t) m = pos[t] + 1 > m ? pos[t] + 1 : m;
  return m;
}

}  // namespace

void attention_ref(const float* q, float* out, int64_t T, int H, int KVH, int D, const ops::AttnSource* src,
                   const int32_t* pos) {
  std::vector<float> scores(size_t(max_len(T, pos)));
  for (int64_t r = 0; r < T * H; ++r) attend(q, out, r, H, KVH, D, src, pos, scores.data(), dot_plain, axpy_plain);
}

void attention(const float* q, float* out, int64_t T, int H, int KVH, int D, const ops::AttnSource* src,
               const int32_t* pos, ThreadPool& pool) {
  const KernelTable& k = kernels(isa_active());
  const int64_t n_max = max_len(T, pos);
  pool.parallel_for(T * H, [&](int64_t b, int64_t e, int) {
    thread_local std::vector<float> scores;
    if (int64_t(scores.size()) < n_max) scores.resize(size_t(n_max));
    for (int64_t r = b; r < e; ++r) attend(q, out, r, H, KVH, D, src, pos, scores.data(), k.dot, k.axpy);
  });
}

}  // namespace si::cpu
