// ops/rms_norm.h — RMSNorm as in HF LlamaRMSNorm: y = w * (x / sqrt(mean(x^2) + eps)).
//
//   si::ops::rms_norm(x, w, 1e-5f, y, pool);   // x, y (T, C) f32 (y may be x), w (C) f32
#pragma once

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace si::ops {

void rms_norm(const TensorView& x, const TensorView& w, float eps, const TensorView& y, ThreadPool& pool);
void rms_norm_ref(const TensorView& x, const TensorView& w, float eps, const TensorView& y);

}  // namespace si::ops
