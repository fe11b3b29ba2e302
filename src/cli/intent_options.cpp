#include "cli/intent_options.h"

#include "core/error.h"

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
  cmd->add_option("--device", device, "cpu (cuda: not built into this engine yet)")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
}

std::unique_ptr<IntentStack> build_intent_stack(const IntentCli& o) {
  if (o.device != "cpu") fail("--device {}: the CUDA intent engine is not available in this build; use --device cpu", o.device);
  auto s = std::make_unique<IntentStack>(IntentStack{load_task_spec(o.task), Tokenizer::load(o.tokenizer.empty() ? o.model : o.tokenizer), LlamaModel::load(o.model), nullptr, nullptr});
  IntentOptions eo;
  eo.mode = o.decode == "free" ? DecodeMode::Free : DecodeMode::Constrained;
  eo.max_batch = o.batch;
  eo.cache_slots = o.cache_slots;
  eo.use_cache = !o.no_cache;
  eo.max_new_tokens = o.max_new_tokens;
  s->backend = std::make_unique<LlamaBackend>(
      s->model, RunnerOptions{.n_threads = o.threads, .n_slots = o.cache_slots + o.batch, .capacity = o.ctx});
  s->engine = std::make_unique<IntentEngine>(*s->backend, s->tokenizer, s->spec, eo);
  return s;
}

}  // namespace si::cli
