#include "cli/intent_options.h"

#include <algorithm>

#include "core/error.h"
#include "cli/cuda_device.h"
#include "intent/llama_backend.h"

namespace si::cli {

void IntentCli::add_to(CLI::App* cmd) {
  cmd->add_option("--model,-m", model, "Model: GGUF file or Hugging Face directory (with tokenizer)")->required();
  cmd->add_option("--tokenizer", tokenizer, "Tokenizer (tokenizer.json, a directory or a GGUF) when the model has none")
      ->check(CLI::ExistingPath);
  cmd->add_option("--task", task, "Task spec name (data/tasks/<name>.json) or path")->capture_default_str();
  cmd->add_option("--decode", decode, "constrained (spec automaton) or free (greedy, then parse)")
      ->check(CLI::IsMember({"constrained", "free"}))->capture_default_str();
  cmd->add_option("--batch,-b", batch, "Requests decoded together")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--threads,-t", threads, "CPU threads")->check(CLI::Range(1, 512))->capture_default_str();
  cmd->add_option("--cache-slots", cache_slots, "Catalog prefixes kept in the KV cache")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_flag("--no-cache", no_cache, "Prefill every prompt in full (no catalog prefix cache)");
  cmd->add_option("--ctx", ctx, "Context positions per request (prompt + answer)")->check(CLI::Range(16, 131072))->capture_default_str();
  cmd->add_option("--max-new-tokens", max_new_tokens, "Free decoding: stop after this many tokens")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--device", device, "cpu, or cuda (the model's weights as FP16 on the GPU; CUDA builds only)")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--fp8-min-tokens", fp8_min_tokens,
                  "cuda: forward passes of at least this many tokens run their matmuls in FP8 (e4m3, Hopper/Ada): "
                  "faster large batches, less exact logits; 0 = never")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str();
}

namespace {

std::unique_ptr<LmBackend> make_backend(const IntentCli& o, const LlamaModel& model, const CudaModule* cuda) {
  const int slots = o.cache_slots + o.batch;
  if (cuda) {
    // A pass holds a batch of requests or of catalog prefixes; longer batches run as several passes.
    // Decode steps of a batch feed a few tokens per request: graphs for passes up to 256 tokens.
    const int max_tokens = std::max(1024, std::min(4096, o.batch * o.ctx / 2));
    return cuda->make_backend(model, {.n_slots = slots, .capacity = o.ctx, .max_tokens = max_tokens, .graph_max_tokens = 256,
                                      .fp8_min_tokens = o.fp8_min_tokens});
  }
  return std::make_unique<LlamaBackend>(model, RunnerOptions{.n_threads = o.threads, .n_slots = slots, .capacity = o.ctx});
}

}  // namespace

std::unique_ptr<IntentStack> build_intent_stack(const IntentCli& o) {
  SI_CHECK(o.fp8_min_tokens == 0 || o.device == "cuda",
           "--fp8-min-tokens {}: FP8 matmuls run on the GPU only; add --device cuda or drop it", o.fp8_min_tokens);
  const CudaModule* cuda = cuda_module_for(o.device);  // before loading anything
  auto s = std::make_unique<IntentStack>(IntentStack{load_task_spec(o.task), Tokenizer::load(o.tokenizer.empty() ? o.model : o.tokenizer), LlamaModel::load(o.model), nullptr, nullptr});
  IntentOptions eo;
  eo.mode = o.decode == "free" ? DecodeMode::Free : DecodeMode::Constrained;
  eo.max_batch = o.batch;
  eo.cache_slots = o.cache_slots;
  eo.use_cache = !o.no_cache;
  eo.max_new_tokens = o.max_new_tokens;
  s->backend = make_backend(o, s->model, cuda);
  s->engine = std::make_unique<IntentEngine>(*s->backend, s->tokenizer, s->spec, eo);
  return s;
}

}  // namespace si::cli
