// cli/intent_options.h — the options `classify` and `eval` share, and the engine they build
// (--device cpu: the CPU runner; --device cuda: the CUDA runner of the dlopened libshopintent-cuda.so,
// in CUDA builds on a GPU machine).
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "data/task_spec.h"
#include "intent/engine.h"
#include "intent/lm_backend.h"
#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"

namespace si::cli {

struct IntentCli {
  std::string model, tokenizer, task = "cart", decode = "constrained", device = "cpu";
  int batch = 16, threads = 2, cache_slots = 8, ctx = 512, max_new_tokens = 96, fp8_min_tokens = 0;
  bool no_cache = false;

  void add_to(CLI::App* cmd);
};

// Everything an engine needs, kept alive together.
struct IntentStack {
  TaskSpec spec;
  Tokenizer tokenizer;
  LlamaModel model;
  std::unique_ptr<LmBackend> backend;
  std::unique_ptr<IntentEngine> engine;
};

std::unique_ptr<IntentStack> build_intent_stack(const IntentCli& o);

}  // namespace si::cli
