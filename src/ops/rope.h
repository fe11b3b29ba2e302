// ops/rope.h — rotary position embedding with precomputed frequencies (llama3 scaling included).
//
//   std::vector<float> f = si::ops::rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling);
//   si::ops::RopeTable tab = si::ops::rope_table(pos, f);            // cos/sin (T, D/2), once per batch
//   si::ops::rope_apply(q, tab, si::ops::RopePairing::HalfSplit, pool);   // q (T, H, D) in place
//
// Pairings: HF's rotate_half rotates (i, i + D/2); GGML rotates neighbours (2i, 2i + 1). GGUF files
// store attn_q/attn_k rows permuted so that the interleaved pairing gives HF's result; rotating the
// way the file expects avoids un-permuting (and copying) quantized rows at load.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/llama_config.h"

namespace si::ops {

enum class RopePairing { HalfSplit, Interleaved };

// inv_freq[i] = theta^(-2i/D) / factor[i], factor from llama3 scaling (as transformers computes it).
std::vector<float> rope_inv_freq(int head_dim, float theta, const RopeScaling& scaling);
// The same with explicit per-frequency divisors (GGUF `rope_freqs.weight`, D/2 floats).
std::vector<float> rope_inv_freq(int head_dim, float theta, std::span<const float> freq_factors);

struct RopeTable {
  int64_t n_tokens = 0;
  int64_t half = 0;          // D/2
  std::vector<float> cos;    // (T, D/2)
  std::vector<float> sin;    // (T, D/2)
};
RopeTable rope_table(std::span<const int32_t> pos, std::span<const float> inv_freq);

// x (T, H, D) rotated in place; the table's T and D/2 must match.
void rope_apply(const TensorView& x, const RopeTable& table, RopePairing pairing, ThreadPool& pool);
void rope_apply_ref(const TensorView& x, const RopeTable& table, RopePairing pairing);

}  // namespace si::ops
