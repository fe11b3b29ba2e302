// shopintent generate --model M --prompt "..." -n N : greedy continuation of a prompt (debugging).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "model/llama_runner.h"
#include "tokenizer/tokenizer.h"

namespace si::cli {

void register_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Greedy generation from a prompt");
  struct Opts {
    std::string model, prompt;
    int n = 32, threads = 2;
    bool no_bos = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "HF directory (with tokenizer.json) or GGUF file")->required();
  cmd->add_option("--prompt", o->prompt, "prompt text")->required();
  cmd->add_option("-n", o->n, "tokens to generate");
  cmd->add_option("-t,--threads", o->threads, "threads");
  cmd->add_flag("--no-bos", o->no_bos, "do not start with the bos token");
  cmd->callback([o] {
    using Clock = std::chrono::steady_clock;
    const LlamaModel m = LlamaModel::load(o->model);
    const Tokenizer tok = Tokenizer::load(o->model);
    std::vector<int32_t> ids;
    if (!o->no_bos && tok.bos_id() >= 0) ids.push_back(tok.bos_id());
    tok.encode(o->prompt, false, ids);
    SI_CHECK(o->n >= 0, "generate: -n must be >= 0, got {}", o->n);
    LlamaRunner r(m, {.n_threads = o->threads, .n_slots = 1, .capacity = int(ids.size()) + o->n + 1});
    const auto t0 = Clock::now();
    const auto logits = r.eval(0, ids);
    const int64_t V = m.config().vocab_size;
    const float* last = logits.data() + (int64_t(ids.size()) - 1) * V;
    int32_t next = int32_t(std::max_element(last, last + V) - last);
    const auto t1 = Clock::now();
    fmt::print("{}", o->prompt);
    std::fflush(stdout);
    int produced = 0;
    for (; produced < o->n; ++produced) {
      if (next == tok.eos_id()) break;
      fmt::print("{}", tok.decode(std::span<const int32_t>(&next, 1)));
      std::fflush(stdout);
      if (produced + 1 < o->n) next = r.decode_greedy(0, next);
    }
    const auto t2 = Clock::now();
    const double pp = std::chrono::duration<double>(t1 - t0).count(), tg = std::chrono::duration<double>(t2 - t1).count();
    fmt::print("\n");
    fmt::print(stderr, "prompt {} tokens {:.1f} tok/s, generated {} tokens {:.1f} tok/s\n", ids.size(),
               double(ids.size()) / pp, produced, produced > 1 ? double(produced - 1) / tg : 0.0);
  });
}

}  // namespace si::cli
