// shopintent train --base M|--config tiny --data DIR --task T --method full|lora|qlora --out RUN [...]
//
// Fine-tunes on DIR/train.jsonl (loss on the canonical answer + end-of-text only), evaluates on
// DIR/valid.jsonl, checkpoints into RUN/checkpoints and leaves in RUN either an HF model directory
// (full) or a peft adapter (lora, qlora), plus the tokenizer. `--resume` continues a killed run
// exactly (bitwise on the CPU).
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/system.h"
#include "core/thread_pool.h"
#include "data/task_spec.h"
#include "formats/llama_config.h"
#include "tokenizer/tokenizer.h"
#include "train/dataset.h"
#include "train/hf_io.h"
#include "train/trainer.h"

namespace si::cli {
namespace {

namespace fs = std::filesystem;

struct TrainArgs {
  std::string base, config, tokenizer, data, task = "cart", method = "lora", out, device = "cpu", targets;
  train::TrainConfig tc;
  train::LoraConfig lora;
  int threads = 0, max_len = 1024;
  uint64_t init_seed = 1;
  bool resume = false, checkpoint_activations = false, reference = false;
};

void run_train(const TrainArgs& a) {
  SI_CHECK(a.device == "cpu", "--device {}: the CUDA trainer is not built yet; use --device cpu", a.device);
  SI_CHECK(a.base.empty() != a.config.empty(), "give exactly one of --base (an HF model directory) and --config (tiny, small or a config.json)");
  const fs::path out(a.out);
  if (!a.resume && fs::exists(out / "checkpoints" / "latest"))
    throw Error("holds checkpoints of an earlier run").at(a.out).hint("pass --resume to continue it, or choose a new --out");

  // Model config and tokenizer.
  LlamaConfig cfg;
  std::string tok_path = a.tokenizer;
  if (!a.base.empty()) {
    if (!fs::is_directory(a.base))
      throw Error("--base must be a Hugging Face directory (config.json + safetensors)").at(a.base).hint("GGUF files cannot be trained; use the HF checkpoint");
    cfg = llama_config_from_hf_file((fs::path(a.base) / "config.json").string());
    if (tok_path.empty()) tok_path = (fs::path(a.base) / "tokenizer.json").string();
  } else {
    cfg = a.config.ends_with(".json") ? llama_config_from_hf_file(a.config) : llama_config_preset(a.config);
    SI_CHECK(!tok_path.empty(), "--config needs --tokenizer (a tokenizer.json, e.g. from shopintent tokenizer-train)");
  }
  const Tokenizer tok = Tokenizer::load(tok_path);
  if (!a.base.empty()) {
    SI_CHECK(tok.vocab_size() <= cfg.vocab_size, "{}: tokenizer has {} tokens, the model's vocabulary only {}", tok_path,
             tok.vocab_size(), cfg.vocab_size);
  } else {  // our own model: its vocabulary is the tokenizer's
    cfg.vocab_size = tok.vocab_size();
    cfg.bos_token_id = tok.bos_id();
    cfg.eos_token_id = tok.eos_id();
  }
  const TaskSpec spec = load_task_spec(a.task);

  // Data.
  train::DatasetStats st, sv;
  const auto train_ex = train::load_examples((fs::path(a.data) / "train.jsonl").string(), tok, spec, a.max_len, &st);
  const std::string valid_path = (fs::path(a.data) / "valid.jsonl").string();
  const auto valid_ex = fs::exists(valid_path) ? train::load_examples(valid_path, tok, spec, a.max_len, &sv) : std::vector<train::Example>{};
  SI_CHECK(!train_ex.empty(), "{}: no usable training rows ({} read, {} longer than --max-len {})", a.data, st.rows,
           st.skipped_too_long, a.max_len);
  fmt::print(stderr, "train: {} train rows ({} answer tokens, longest {} tokens, {} skipped as too long), {} valid rows\n",
             train_ex.size(), st.answer_tokens, st.max_len, st.skipped_too_long, valid_ex.size());

  // Model.
  const int n_threads = a.threads > 0 ? a.threads : ThreadPool::default_threads();
  ThreadPool pool(n_threads);
  train::ModelOptions mo;
  mo.method = train::method_from_name(a.method);
  mo.lora = a.lora;
  mo.checkpoint_activations = a.checkpoint_activations;
  mo.fast = !a.reference;
  mo.pool = &pool;
  train::TrainModel<float> m(cfg, mo);
  if (!a.base.empty()) {
    train::load_base_weights(m, a.base);
  } else {
    m.init_random(a.init_seed);
  }
  if (mo.method != train::Method::full) m.init_adapters(a.init_seed + 1);
  if (mo.method == train::Method::qlora) m.quantize_base();
  fmt::print(stderr, "train: {} {} parameters trainable of the {}-layer model, method {}\n", m.trainable().numel(),
             mo.method == train::Method::full ? "(all)" : "(adapters)", cfg.n_layers, a.method);

  train::TrainConfig tc = a.tc;
  tc.out_dir = a.out;
  tc.pad_id = tok.eos_id() >= 0 ? tok.eos_id() : 0;
  train::Trainer trainer(m, tc, train_ex, valid_ex);
  if (a.resume && !trainer.resume()) fmt::print(stderr, "train: no checkpoint in {}, starting fresh\n", a.out);
  const train::TrainResult r = trainer.run();

  const std::string base_desc = a.base.empty() ? "config:" + a.config : a.base;
  train::save_run_output(m, a.out, base_desc, {{"task", a.task}, {"tokenizer", tok_path}});
  if (fs::absolute(tok_path) != fs::absolute(out / "tokenizer.json"))
    fs::copy_file(tok_path, out / "tokenizer.json", fs::copy_options::overwrite_existing);
  fmt::print("{}: {} steps, last loss {:.4f}, valid loss {:.4f}, {:.0f} tokens/s, peak RSS {:.0f} MiB{}\n", a.out, r.steps,
             r.last_loss, r.valid_loss, r.tokens_per_s, double(peak_rss_bytes()) / 1048576.0, r.early_stopped ? " (early stop)" : "");
}

}  // namespace

void register_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Fine-tune a Llama-family model (full, LoRA or QLoRA) on datagen output");
  cmd->add_option("--base", a->base, "base model: Hugging Face directory");
  cmd->add_option("--config", a->config, "train a new model: preset (tiny, small) or a config.json");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: the base model's)");
  cmd->add_option("--data", a->data, "directory with train.jsonl (and valid.jsonl)")->required();
  cmd->add_option("--task", a->task, "task spec name or path")->capture_default_str();
  cmd->add_option("--method", a->method, "full, lora or qlora")->capture_default_str()->check(CLI::IsMember({"full", "lora", "qlora"}));
  cmd->add_option("--out", a->out, "run directory (checkpoints, adapter or model)")->required();
  cmd->add_option("--device", a->device, "cpu (cuda: later)")->capture_default_str();
  cmd->add_option("--epochs", a->tc.epochs, "passes over the training rows")->capture_default_str();
  cmd->add_option("--max-steps", a->tc.max_steps, "optimiser steps (overrides --epochs when > 0)")->capture_default_str();
  cmd->add_option("--batch", a->tc.batch_size, "rows per micro-batch")->capture_default_str();
  cmd->add_option("--grad-accum", a->tc.grad_accum, "micro-batches per optimiser step")->capture_default_str();
  cmd->add_option("--lr", a->tc.lr, "peak learning rate")->capture_default_str();
  cmd->add_option("--warmup", a->tc.warmup_steps, "linear warm-up steps (then cosine decay to 0)")->capture_default_str();
  cmd->add_option("--weight-decay", a->tc.adam.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_option("--adam-beta2", a->tc.adam.beta2, "AdamW beta2")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--prompt-loss-weight", a->tc.prompt_loss_weight,
                  "also learn to predict the prompt tokens, with this weight relative to answer tokens (0 = answer only)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--max-grad-norm", a->tc.max_grad_norm, "global gradient-norm clip (0 = off)")->capture_default_str();
  cmd->add_option("--lora-r", a->lora.rank, "LoRA rank")->capture_default_str();
  cmd->add_option("--lora-alpha", a->lora.alpha, "LoRA alpha (scaling alpha / r)")->capture_default_str();
  cmd->add_option("--lora-dropout", a->lora.dropout, "dropout on the LoRA input")->capture_default_str();
  cmd->add_option("--lora-targets", a->targets, "comma-separated subset of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj (default all)");
  cmd->add_option("--eval-every", a->tc.eval_every, "steps between evaluations on valid (0 = at the end)")->capture_default_str();
  cmd->add_option("--early-stopping", a->tc.early_stopping_patience, "stop after N evaluations without improvement (0 = off)")->capture_default_str();
  cmd->add_option("--save-every", a->tc.save_every, "steps between checkpoints (0 = at the end)")->capture_default_str();
  cmd->add_option("--seed", a->tc.seed, "data order and dropout seed")->capture_default_str();
  cmd->add_option("--init-seed", a->init_seed, "seed of new weights (--config) and LoRA A")->capture_default_str();
  cmd->add_option("--max-len", a->max_len, "leave out rows longer than this many tokens")->capture_default_str();
  cmd->add_option("--threads,-t", a->threads, "CPU threads (default: all cores)");
  cmd->add_flag("--resume", a->resume, "continue from RUN/checkpoints/latest");
  cmd->add_flag("--checkpoint-activations", a->checkpoint_activations, "recompute layer activations in backward (less memory)");
  cmd->add_flag("--reference", a->reference, "use the plain-loop fp32 reference kernels (slow; for checks)");
  cmd->add_flag("--quiet", a->tc.quiet, "no progress lines");
  cmd->callback([a] {
    if (!a->targets.empty()) {
      a->lora.targets.fill(false);
      size_t start = 0;
      while (start <= a->targets.size()) {
        const size_t comma = std::min(a->targets.find(',', start), a->targets.size());
        const std::string name = a->targets.substr(start, comma - start);
        int found = -1;
        for (int p = 0; p < train::kNumProj; p++)
          if (name == train::proj_name(p)) found = p;
        SI_CHECK(found >= 0, "--lora-targets: unknown module '{}' (use q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)", name);
        a->lora.targets[size_t(found)] = true;
        start = comma + 1;
      }
    }
    run_train(*a);
  });
}

}  // namespace si::cli
