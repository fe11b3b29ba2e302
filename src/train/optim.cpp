#include "train/optim.h"

#include <cmath>

#include "core/error.h"
#include "train/cpu_fast.h"

namespace si::train {

AdamW::AdamW(int64_t n, const AdamWConfig& c) : cfg_(c), m_(size_t(n), 0.0f), v_(size_t(n), 0.0f) {
  SI_CHECK(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1, "AdamW betas ({}, {}) must lie in [0, 1)", c.beta1, c.beta2);
  SI_CHECK(c.eps >= 0 && c.weight_decay >= 0, "AdamW eps {} and weight decay {} must be >= 0", c.eps, c.weight_decay);
}

void AdamW::step(float* params, const float* grads, double lr, ThreadPool* pool) {
  t_++;
  // Python-float scalars become float32 when they meet a float32 tensor, as in torch.
  const float decay = float(1.0 - lr * cfg_.weight_decay);
  const float w1 = float(1.0 - cfg_.beta1);  // lerp weight
  const float b2 = float(cfg_.beta2);
  const float w2 = float(1.0 - cfg_.beta2);
  const double bc1 = 1.0 - std::pow(cfg_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, double(t_));
  const float neg_step = float(-(lr / bc1));
  const float bc2_sqrt = float(std::sqrt(bc2));
  const float eps = float(cfg_.eps);
  float* m_all = m_.data();
  float* v_all = v_.data();
  auto update = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const float g = grads[i];
      float p = params[i] * decay;
      // lerp for weight < 0.5: fmadd(weight, end - start, start) (ATen's vectorised lerp)
      const float m = std::fma(w1, g - m_all[i], m_all[i]);
      const float v = v_all[i] * b2 + w2 * g * g;  // addcmul: self + value * t1 * t2
      const float denom = std::sqrt(v) / bc2_sqrt + eps;
      p = p + neg_step * m / denom;  // addcdiv: self + value * t1 / t2
      m_all[i] = m;
      v_all[i] = v;
      params[i] = p;
    }
  };
  const int64_t n = int64_t(m_.size());
  fast::split(pool, n, update);
}

double cosine_with_warmup(double base_lr, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return base_lr * (double(step) / double(std::max<int64_t>(1, warmup)));
  const double progress = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
  return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress)));
}

double clip_grad_norm(std::vector<float>& grads, const std::vector<ParamEntry>& entries, double max_norm) {
  // Per-tensor norms, then the norm of the norms (torch's non-foreach path), in float32 results.
  double total_sq = 0;
  for (const auto& e : entries) {
    double s = 0;
    for (int64_t i = 0; i < e.numel; i++) s += double(grads[size_t(e.offset + i)]) * grads[size_t(e.offset + i)];
    const float norm = float(std::sqrt(s));
    total_sq += double(norm) * norm;
  }
  const float total = float(std::sqrt(total_sq));
  if (max_norm > 0) {
    const float coef = std::min(1.0f, float(max_norm) / (total + 1e-6f));
    for (auto& g : grads) g *= coef;
  }
  return total;
}

}  // namespace si::train
