// ops/cpu/cpu_ops.h — CPU implementations behind the dispatch files in ops/ (raw pointers, shapes
// already validated). *_ref are the fp32 references: plain loops, one thread, no SIMD.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/rope.h"

namespace si::cpu {

// x, y (T, C); w (C)
void rms_norm_ref(const float* x, const float* w, float eps, float* y, int64_t T, int64_t C);
void rms_norm(const float* x, const float* w, float eps, float* y, int64_t T, int64_t C, ThreadPool& pool);

// x (T, H, D) in place; cos, sin (T, D/2)
void rope_ref(float* x, const float* cos, const float* sin, int64_t T, int64_t H, int64_t D, bool interleaved);
void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t H, int64_t D, bool interleaved,
          ThreadPool& pool);

// out (n) = silu(gate) * up ; x (n) += r
void swiglu_ref(const float* gate, const float* up, float* out, int64_t n);
void swiglu(const float* gate, const float* up, float* out, int64_t n, ThreadPool& pool);
void add_ref(float* x, const float* r, int64_t n);
void add(float* x, const float* r, int64_t n, ThreadPool& pool);

// q, out (T, H, D)
void attention_ref(const float* q, float* out, int64_t T, int H, int KVH, int D,
                   const ops::AttnSource* src, const int32_t* pos);
void attention(const float* q, float* out, int64_t T, int H, int KVH, int D,
               const ops::AttnSource* src, const int32_t* pos, ThreadPool& pool);

}  // namespace si::cpu
