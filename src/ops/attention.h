// ops/attention.h — causal grouped-query attention of a batch of tokens over a KV cache.
//
//   si::ops::AttnSource src{k, v, t_max};               // the token's sequence: (KVH, t_max, D) each
//   si::ops::attention(q, out, n_kv_heads, srcs, pos, pool);   // q, out (T, H, D)
//
// Token t (at position pos[t]) attends to positions 0..pos[t] of its own sequence, whose keys and
// values must already be in the cache. Positions below `prefix_len` are read from a shared prefix
// (another sequence's cache), so many requests can reuse one prefilled prefix without copying it.
// Several sequences of different lengths mix freely in one batch. Softmax in fp32, scale 1/sqrt(D).
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace si::ops {

struct AttnSource {
  const float* k = nullptr;        // (KVH, t_max, D): this sequence's keys at absolute positions
  const float* v = nullptr;        // (KVH, t_max, D)
  int64_t t_max = 0;               // capacity of the cache rows (positions) per head
  const float* prefix_k = nullptr; // optional shared prefix cache, same layout
  const float* prefix_v = nullptr;
  int32_t prefix_len = 0;          // positions [0, prefix_len) come from the prefix
};

void attention(const TensorView& q, const TensorView& out, int n_kv_heads,
               std::span<const AttnSource> src, std::span<const int32_t> pos, ThreadPool& pool);
void attention_ref(const TensorView& q, const TensorView& out, int n_kv_heads,
                   std::span<const AttnSource> src, std::span<const int32_t> pos);

}  // namespace si::ops
