// shopintent datagen — synthetic multilingual training data for a task spec (docs/data.md).
#include <cmath>

#include <fmt/format.h>

#include "cli/arg_parse.h"
#include "cli/commands.h"
#include "core/error.h"
#include "data/generator.h"

namespace si::cli {

namespace {

uint32_t to_ppm(double rate, const char* option) {
  SI_CHECK(rate >= 0.0 && rate <= 1.0, "datagen: {} must be in [0, 1], got {}", option, rate);
  return static_cast<uint32_t>(std::llround(rate * 1e6));
}

}  // namespace

void register_datagen(CLI::App& app) {
  auto* cmd = app.add_subcommand("datagen", "Generate train/valid/test/test_heldout JSONL + stats.json for a task");
  struct Args {
    std::string task = "cart", langs, out, catalog_size = "5-30";
    int64_t n = 1000;
    uint64_t seed = 1;
    double typo = 0.12, diacritics = 0.08, lowercase = 0.15, punct = 0.15, emoji = 0.06, spaces = 0.05;
    double code_switch = 0.10, valid = 0.05, test = 0.05, heldout = 0.05;
    bool quiet = false, meta = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--task", a->task, "Task spec name (data/tasks/<name>.json) or path")->capture_default_str();
  cmd->add_option("--langs", a->langs, "Comma-separated language codes (default: all in data/lang)");
  cmd->add_option("--n", a->n, "Rows over all splits")->capture_default_str();
  cmd->add_option("--seed", a->seed, "PRNG seed; same seed and data files -> byte-identical output")->capture_default_str();
  cmd->add_option("--out", a->out, "Output directory")->required();
  cmd->add_option("--noise-typo", a->typo, "Share of messages with keyboard typos")->capture_default_str();
  cmd->add_option("--noise-diacritics", a->diacritics, "Share without diacritics")->capture_default_str();
  cmd->add_option("--noise-lowercase", a->lowercase, "Share all lowercase")->capture_default_str();
  cmd->add_option("--noise-punct", a->punct, "Share without punctuation")->capture_default_str();
  cmd->add_option("--noise-emoji", a->emoji, "Share with an emoji")->capture_default_str();
  cmd->add_option("--noise-spaces", a->spaces, "Share with extra spaces")->capture_default_str();
  cmd->add_option("--code-switch", a->code_switch, "Share with the catalog in another language")->capture_default_str();
  cmd->add_option("--valid-frac", a->valid, "Share of rows in valid.jsonl")->capture_default_str();
  cmd->add_option("--test-frac", a->test, "Share of rows in test.jsonl")->capture_default_str();
  cmd->add_option("--heldout-frac", a->heldout, "Share in test_heldout.jsonl (unseen phrasings and products; 0: none)")
      ->capture_default_str();
  cmd->add_option("--catalog-size", a->catalog_size, "Catalog entries per row, MIN-MAX (cart tasks)")->capture_default_str();
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  cmd->add_flag("--meta", a->meta, "Also write <split>.meta.jsonl (template ids, catalog language per row)");
  cmd->callback([a] {
    GenOptions o;
    o.task = a->task;
    o.langs = split_commas(a->langs);
    o.n = a->n;
    o.seed = a->seed;
    o.out_dir = a->out;
    o.noise.typo = to_ppm(a->typo, "--noise-typo");
    o.noise.diacritics = to_ppm(a->diacritics, "--noise-diacritics");
    o.noise.lowercase = to_ppm(a->lowercase, "--noise-lowercase");
    o.noise.punctuation = to_ppm(a->punct, "--noise-punct");
    o.noise.emoji = to_ppm(a->emoji, "--noise-emoji");
    o.noise.spaces = to_ppm(a->spaces, "--noise-spaces");
    o.code_switch_ppm = to_ppm(a->code_switch, "--code-switch");
    o.valid_ppm = to_ppm(a->valid, "--valid-frac");
    o.test_ppm = to_ppm(a->test, "--test-frac");
    o.heldout_ppm = to_ppm(a->heldout, "--heldout-frac");
    parse_int_range(a->catalog_size, "datagen: --catalog-size", o.catalog_min, o.catalog_max);
    o.quiet = a->quiet;
    o.meta = a->meta;
    GenSummary s = generate_dataset(o);
    fmt::print("{}: train {} valid {} test {} test_heldout {} (dropped {} duplicates) in {:.1f} s\n", a->out, s.train,
               s.valid, s.test, s.heldout, s.dropped, s.seconds);
  });
}

}  // namespace si::cli
