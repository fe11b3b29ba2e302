// ops/swiglu.h — the elementwise ops of the Llama block: SwiGLU gate and residual add.
//
//   si::ops::swiglu(gate, up, h, pool);   // h (T, F) = silu(gate) * up; h may alias gate or up
//   si::ops::add(x, r, pool);             // x (T, C) += r (T, C)
#pragma once

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace si::ops {

void swiglu(const TensorView& gate, const TensorView& up, const TensorView& out, ThreadPool& pool);
void swiglu_ref(const TensorView& gate, const TensorView& up, const TensorView& out);

void add(const TensorView& x, const TensorView& r, ThreadPool& pool);
void add_ref(const TensorView& x, const TensorView& r);

}  // namespace si::ops
