// shopintent quickstart [--out DIR] [--task cart] — the whole pipeline on a tiny model (bench/quickstart.h):
// datagen -> tokenizer-train -> train -> GGUF Q8_0 + Q4_K_M -> eval on test and test_heldout.
// Defaults are tuned to finish in about 10 minutes on 2 cores; the options are for experiments.
#include <fmt/format.h>

#include "bench/quickstart.h"
#include "cli/arg_parse.h"
#include "cli/commands.h"
#include "core/error.h"

namespace si::cli {

void register_quickstart(CLI::App& app) {
  auto o = std::make_shared<QuickstartOptions>();
  auto langs = std::make_shared<std::string>();
  auto catalog_size = std::make_shared<std::string>(fmt::format("{}-{}", o->catalog_min, o->catalog_max));
  auto* cmd = app.add_subcommand("quickstart",
                                 "Run the whole pipeline on a tiny model: data, tokenizer, training, GGUF Q8_0/Q4_K_M, evaluation");
  cmd->add_option("--out,-o", o->out_dir, "Output directory (data/, model/, *.gguf, results.json)")->capture_default_str();
  cmd->add_option("--task", o->task, "Task spec name (data/tasks/<name>.json) or path")->capture_default_str();
  cmd->add_option("--langs", *langs, "Comma-separated languages of the data (default: en)");
  cmd->add_option("--n", o->n, "Rows generated over all splits")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of data, weights and batch order")->capture_default_str();
  cmd->add_option("--catalog-size", *catalog_size, "Catalog entries per row, MIN-MAX")->capture_default_str();
  cmd->add_option("--config", o->config, "Model preset to train (tiny, small)")->capture_default_str();
  cmd->add_option("--vocab", o->vocab_size, "Tokenizer vocabulary size")->check(CLI::Range(300, 65536))->capture_default_str();
  cmd->add_option("--steps", o->max_steps, "Optimiser steps")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch", o->batch_size, "Rows per step")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--lr", o->lr, "Peak learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--adam-beta2", o->adam_beta2, "AdamW beta2")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--prompt-loss-weight", o->prompt_loss_weight, "Weight of the loss on prompt tokens (0 = answer only)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--warmup", o->warmup_steps, "Warm-up steps")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--eval-limit", o->eval_limit, "Evaluate the first N rows of each split (0 = all)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--threads,-t", o->threads, "CPU threads (default: every core)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet", o->quiet, "Only the final table");
  cmd->callback([o, langs, catalog_size] {
    if (!langs->empty()) o->langs = split_commas(*langs);
    parse_int_range(*catalog_size, "quickstart: --catalog-size", o->catalog_min, o->catalog_max);
    const QuickstartResult r = run_quickstart(*o);
    fmt::print("{}", quickstart_table(r.results));
    fmt::print("{}/results.json written; total {:.1f} s ({:.1f} min)\n", o->out_dir, r.seconds, r.seconds / 60.0);
  });
}

}  // namespace si::cli
