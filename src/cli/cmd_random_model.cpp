// shopintent random-model --config llama-3.2-1b --out DIR [--layers N] [--type BF16] [--tokenizer FILE]
// A Hugging Face directory of random weights of a preset (or config.json) architecture, for
// benchmarks of the commands that take HF models (quantize --to gptq:..., merge) without real
// weights, which cannot be downloaded here. --layers keeps only the first N decoder layers (timing
// a prefix of a large model).
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/dtype.h"
#include "core/error.h"
#include "formats/llama_config.h"
#include "model/random_model.h"

namespace si::cli {
namespace {

struct RandomModelOptions {
  std::string config, out, type = "BF16", tokenizer;
  int layers = 0;
  uint64_t seed = 1;
};

void run(const RandomModelOptions& o) {
  LlamaConfig c = o.config.ends_with(".json") ? llama_config_from_hf_file(o.config) : llama_config_preset(o.config);
  if (o.layers > 0) {
    SI_CHECK(o.layers <= c.n_layers, "--layers {}: the {} config has {} layers", o.layers, o.config, c.n_layers);
    c.n_layers = o.layers;
  }
  const auto t = dtype_from_name(o.type);
  SI_CHECK(t && (*t == DType::F32 || *t == DType::F16 || *t == DType::BF16), "--type {}: use F32, F16 or BF16", o.type);
  write_random_hf(c, *t, o.seed, o.out, o.tokenizer);
  fmt::print("{}: random {} {} ({} layers, seed {}){}\n", o.out, o.config, dtype_name(*t), c.n_layers, o.seed,
             o.tokenizer.empty() ? ", no tokenizer" : ", tokenizer " + o.tokenizer);
}

}  // namespace

void register_random_model(CLI::App& app) {
  auto* cmd = app.add_subcommand("random-model", "Write an HF model directory of random weights (benchmarks)");
  auto o = std::make_shared<RandomModelOptions>();
  cmd->add_option("--config", o->config, "preset (tiny, small, llama-3.2-1b) or a config.json")->required();
  cmd->add_option("--out,-o", o->out, "new directory (written atomically)")->required();
  cmd->add_option("--layers", o->layers, "keep only the first N decoder layers")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--type", o->type, "F32, F16 or BF16")->capture_default_str();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json to copy into the directory");
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->callback([o] { run(*o); });
}

}  // namespace si::cli
