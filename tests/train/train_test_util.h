// Shared helpers of the train tests: a tiny Llama config (GQA, llama3 RoPE scaling, tied embeddings)
// and deterministic batches with prompt-masked targets.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/llama_config.h"
#include "train/llama_train.h"
#include "train/rng.h"

namespace si::test {

inline LlamaConfig tiny_train_config(bool tied = true) {
  LlamaConfig c;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 6;  // q_dim 24 != hidden 8: catches mixed-up widths
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 100.0f;  // with head_dim 6 and original length 32: one frequency in each llama3 regime
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.low_freq_factor = 1.0f;
  c.rope_scaling.high_freq_factor = 4.0f;
  c.rope_scaling.original_max_position_embeddings = 32;
  c.tie_word_embeddings = tied;
  return c;
}

// B rows of length T; the first `prompt` positions of each row carry no loss, row b is shortened by b
// (right padding, target -1) so padding is exercised too.
inline train::Batch make_batch(int B, int T, int vocab, int prompt, uint64_t seed) {
  train::Batch b;
  b.B = B;
  b.T = T;
  train::Rng r(seed);
  b.ids.resize(size_t(B * T));
  b.targets.assign(size_t(B * T), -1);
  for (int i = 0; i < B; i++) {
    const int len = T - (i % 2);
    for (int t = 0; t < T; t++) b.ids[size_t(i * T + t)] = t < len ? int32_t(r.below(uint64_t(vocab))) : 0;
    for (int t = prompt - 1; t + 1 < len; t++) b.targets[size_t(i * T + t)] = b.ids[size_t(i * T + t + 1)];
  }
  return b;
}

}  // namespace si::test
