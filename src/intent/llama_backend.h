// intent/llama_backend.h — the intent engine's LmBackend on the CPU model runner.
//
//   si::LlamaModel model = si::LlamaModel::load("model-Q4_K_M.gguf");
//   si::LlamaBackend backend(model, {.n_threads = 2, .n_slots = 40, .capacity = 512});
//   si::IntentEngine engine(backend, tokenizer, spec, {.max_batch = 32, .cache_slots = 8});
#pragma once

#include "intent/lm_backend.h"
#include "model/llama_runner.h"

namespace si {

class LlamaBackend : public LmBackend {
 public:
  LlamaBackend(const LlamaModel& model, RunnerOptions options) : runner_(model, options) {}

  int n_vocab() const override { return runner_.model().config().vocab_size; }
  int hidden_size() const override { return runner_.model().config().hidden_size; }
  int n_slots() const override { return runner_.cache().n_slots(); }
  int slot_capacity() const override { return runner_.cache().capacity(); }
  size_t slot_bytes() const override { return runner_.cache().slot_bytes(); }
  uint64_t model_bytes() const override { return runner_.model().weight_bytes(); }

  int slot_length(int slot) const override { return runner_.cache().length(slot); }
  void clear_slot(int slot) override { runner_.cache().clear(slot); }
  // The engine only refills a prefix-cache slot between batches, after every request that read it
  // has finished, so sharing the prefix in place is safe and saves the copy.
  void copy_slot(int src, int dst, int n_tokens) override { runner_.cache().share_prefix(src, dst, n_tokens); }

  void forward(std::span<const Append> batch, float* hidden) override;
  void logits(const float* hidden, const int32_t* rows, int n_rows, float* out) override;

  LlamaRunner& runner() { return runner_; }

 private:
  LlamaRunner runner_;
};

}  // namespace si
