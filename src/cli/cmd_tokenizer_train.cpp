// shopintent tokenizer-train --in FILE... --vocab N --out tokenizer.json [--special S]...
//
// Trains a byte-level BPE with the Llama 3 pre-tokenizer (tokenizer/bpe_train.h) and writes it as
// a Hugging Face tokenizer.json. Text files are read line by line; in a .jsonl file every string
// value of every record is a text (so datagen's splits can be passed as they are).
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/mmap.h"
#include "tokenizer/bpe_train.h"

namespace si::cli {
namespace {

void add_json_strings(BpeTrainer& trainer, const nlohmann::json& v) {
  if (v.is_string()) {
    trainer.add_text(v.get_ref<const std::string&>());
  } else if (v.is_array() || v.is_object()) {
    for (const auto& item : v) add_json_strings(trainer, item);
  }
}

void add_file(BpeTrainer& trainer, const std::string& path) {
  const std::string text = read_file(path);
  const bool jsonl = path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
  size_t start = 0, line_no = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    ++line_no;
    const std::string_view line = std::string_view(text).substr(start, nl - start);
    if (!jsonl) {
      trainer.add_text(line);
    } else if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      try {
        add_json_strings(trainer, nlohmann::json::parse(line));
      } catch (const nlohmann::json::parse_error& e) {
        throw Error(fmt::format("invalid JSON record: {}", e.what())).at_line(path, line_no);
      }
    }
    start = nl + 1;
  }
}

}  // namespace

void register_tokenizer_train(CLI::App& app) {
  struct Options {
    std::vector<std::string> in;
    std::string out;
    BpeTrainOptions train;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("tokenizer-train", "Train a byte-level BPE tokenizer (Llama 3 style) on text files");
  cmd->add_option("--in,-i", opt->in, "text files (one text per line) or .jsonl files (every string value)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--vocab", opt->train.vocab_size, "vocabulary size, special tokens included")->required();
  cmd->add_option("--out,-o", opt->out, "output tokenizer.json")->required();
  cmd->add_option("--special", opt->train.extra_specials,
                  "extra special tokens, after <|begin_of_text|> and <|end_of_text|>");
  cmd->add_option("--min-frequency", opt->train.min_frequency, "merge only pairs seen at least this often")
      ->default_val(2);
  cmd->callback([opt] {
    BpeTrainer trainer;
    for (const std::string& path : opt->in) add_file(trainer, path);
    opt->train.progress = true;
    const Tokenizer tok = trainer.train(opt->train);
    const std::filesystem::path parent = std::filesystem::path(opt->out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    tok.save_hf_json(opt->out);
    fmt::print("{}: {} tokens ({} merges, {} distinct words), bos {} eos {}\n", opt->out, tok.vocab_size(),
               tok.spec().merges.size(), trainer.n_words(), tok.bos_id(), tok.eos_id());
  });
}

}  // namespace si::cli
