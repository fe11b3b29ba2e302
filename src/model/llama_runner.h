// model/llama_runner.h — runs a LlamaModel on the CPU: batched prefill and decode over a KV cache,
// final hidden states, and logits of all or selected vocabulary rows.
//
//   si::LlamaRunner r(model, {.n_threads = 2, .n_slots = 4, .capacity = 1024});
//   std::vector<float> logits = r.eval(0, ids);          // (T, V): every position of slot 0
//   int next = r.decode_greedy(0, ids.back());           // ...
//
//   // intent engine: prefill a shared prefix once, share it, append requests in one batch
//   r.append({{0, prefix.data(), n_prefix}}, nullptr);
//   r.cache().share_prefix(0, 1, n_prefix); r.cache().share_prefix(0, 2, n_prefix);
//   r.append({{1, req1, n1}, {2, req2, n2}}, hidden);    // hidden (2, C), normed
//   r.logits(hidden, 2, allowed_rows, out);              // (2, allowed_rows.size())
//
// Activations are fp32 (T, C) buffers kept between calls (decode allocates nothing).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"

namespace si {

struct RunnerOptions {
  int n_threads = 2;
  int n_slots = 1;
  int capacity = 2048;  // positions per slot
  bool reference = false;  // run the fp32 reference ops (plain loops, one thread): tests only
};

class LlamaRunner {
 public:
  LlamaRunner(const LlamaModel& model, RunnerOptions opt);

  struct Append {
    int slot;
    const int32_t* tokens;
    int n_tokens;  // >= 1
  };
  // Appends each entry's tokens to its slot (all in one batched pass). If `hidden` is not null it
  // receives the final normed hidden state of each entry's last token: (batch.size(), C).
  void append(std::span<const Append> batch, float* hidden);
  // Low level: the batch as (token, slot, position) triples; hidden states of the tokens listed in
  // `out_rows` (indices into the batch) go to `hidden` (out_rows.size(), C).
  void forward(std::span<const int32_t> tokens, std::span<const int32_t> slots, std::span<const int32_t> pos,
               std::span<const int32_t> out_rows, float* hidden);

  // out (n, rows.size() or V) = hidden (n, C) @ output^T, for vocabulary rows `rows` (all if empty).
  void logits(const float* hidden, int64_t n, std::span<const int32_t> rows, float* out);

  // Convenience: append `ids` to `slot` and return the logits of every position (T, V).
  std::vector<float> eval(int slot, std::span<const int32_t> ids);
  // Append one token, return the argmax of the next-token logits.
  int decode_greedy(int slot, int32_t token);

  KvCache& cache() { return kv_; }
  const KvCache& cache() const { return kv_; }
  const LlamaModel& model() const { return model_; }
  ThreadPool& pool() { return pool_; }
  size_t activation_bytes() const;

 private:
  void ensure(int64_t T);
  const LlamaModel& model_;
  RunnerOptions opt_;
  ThreadPool pool_;
  KvCache kv_;
  // (T, C) residual, (T, C) normed, (T, H*D) q, (T, KVH*D) k, v, (T, H*D) attention out,
  // (T, F) gate, up; grown on demand, kept between calls.
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, tmp_;
};

}  // namespace si
