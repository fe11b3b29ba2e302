// intent/cuda_backend.h — the intent engine's LmBackend on the CUDA runner (model/cuda): FP16 weights,
// the KV cache and every forward pass on the GPU. The engine above it (catalog prefix cache,
// constrained decoding, batching) is the same code as on the CPU; only the backend changes.
//
//   si::LlamaModel model = si::LlamaModel::load("model-dir");
//   si::CudaBackend backend(model, {.n_slots = 40, .capacity = 512, .max_tokens = 2048});
//   si::IntentEngine engine(backend, tokenizer, spec, {.max_batch = 32, .cache_slots = 8});
//
// Built only with CUDA (si_intent_cuda); the constructor throws a one-line si::Error when the
// machine has no usable GPU.
#pragma once

#include <memory>
#include <vector>

#include "intent/lm_backend.h"
#include "model/cuda/llama_runner_cuda.h"

namespace si {

class CudaBackend : public LmBackend {
 public:
  CudaBackend(const LlamaModel& model, CudaRunnerOptions options);
  // Over a runner made elsewhere (CudaLlamaRunner::random for benchmarks of real shapes).
  explicit CudaBackend(std::unique_ptr<CudaLlamaRunner> runner);

  int n_vocab() const override { return runner_->config().vocab_size; }
  int hidden_size() const override { return runner_->config().hidden_size; }
  int n_slots() const override { return runner_->n_slots(); }
  int slot_capacity() const override { return runner_->capacity(); }
  size_t slot_bytes() const override { return runner_->slot_bytes(); }
  uint64_t model_bytes() const override { return runner_->weight_bytes(); }  // device (FP16) weights

  int slot_length(int slot) const override { return runner_->length(slot); }
  void clear_slot(int slot) override { runner_->clear(slot); }
  // As LlamaBackend: the engine refills a prefix-cache slot only between batches, so sharing the
  // prefix in place is safe and saves the copy.
  void copy_slot(int src, int dst, int n_tokens) override { runner_->share_prefix(src, dst, n_tokens); }

  // Batches of more than the runner's max_tokens tokens run as several passes (a long entry is
  // split across passes in order); the result is the same as one pass.
  void forward(std::span<const Append> batch, float* hidden) override;
  void logits(const float* hidden, const int32_t* rows, int n_rows, float* out) override;
  // Every query with a row list in one pass (CudaLlamaRunner::logits_pairs); full-vocabulary queries
  // (free decoding) one by one, as logits() computes them.
  void logits_batch(const float* hidden, std::span<const LogitsQuery> queries, float* out) override;

  CudaLlamaRunner& runner() { return *runner_; }

 private:
  std::unique_ptr<CudaLlamaRunner> runner_;
  std::vector<int32_t> pair_hidden_, pair_vocab_;  // logits_batch's flattened queries (reused)
};

}  // namespace si
