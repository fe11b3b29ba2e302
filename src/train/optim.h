// train/optim.h — AdamW, the warm-up + cosine schedule and global-norm clipping, written to match
// torch.optim.AdamW (single-tensor path, fp32), transformers' get_cosine_schedule_with_warmup and
// torch.nn.utils.clip_grad_norm_ operation for operation.
//
//   si::train::AdamW opt(n_params, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0});
//   double lr = si::train::cosine_with_warmup(2e-4, step, warmup, total);
//   si::train::clip_grad_norm(grads, entries, 1.0);
//   opt.step(params, grads, lr);
#pragma once

#include <cstdint>
#include <vector>

#include "train/params.h"

namespace si {
class ThreadPool;
}

namespace si::train {

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // transformers' default; torch's own default is 0.01
};

class AdamW {
 public:
  AdamW(int64_t n, const AdamWConfig& c);
  // One update of n parameters. Per element, in torch's order:
  //   p *= 1 - lr*wd ; m = lerp(m, g, 1-b1) ; v = v*b2 + (1-b2)*g*g ;
  //   p += (-lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
  // With a pool, ranges of elements run on its threads (the same result: no element depends on another).
  void step(float* params, const float* grads, double lr, ThreadPool* pool = nullptr);

  const AdamWConfig& config() const { return cfg_; }
  int64_t steps() const { return t_; }
  void set_steps(int64_t t) { t_ = t; }
  std::vector<float>& exp_avg() { return m_; }
  std::vector<float>& exp_avg_sq() { return v_; }

 private:
  AdamWConfig cfg_;
  int64_t t_ = 0;
  std::vector<float> m_, v_;
};

// transformers.get_cosine_schedule_with_warmup (num_cycles 0.5): the lr of optimiser step `step`
// (0-based, so the first warm-up step has lr 0 exactly as LambdaLR gives it).
double cosine_with_warmup(double base_lr, int64_t step, int64_t warmup, int64_t total);

// torch.nn.utils.clip_grad_norm_ over tensors laid out by `entries`: returns the total norm (before
// clipping); when max_norm > 0 multiplies every gradient by min(1, max_norm / (norm + 1e-6)).
double clip_grad_norm(std::vector<float>& grads, const std::vector<ParamEntry>& entries, double max_norm);

}  // namespace si::train
