// tokenizer/bpe_train.h — train a byte-level BPE (Llama 3 pre-tokenizer) on a text corpus.
//
//   si::BpeTrainer trainer;
//   for (const std::string& line : lines) trainer.add_text(line);
//   si::Tokenizer tok = trainer.train({.vocab_size = 4096});
//   tok.save_hf_json("out/tokenizer.json");
//
// Vocabulary: the 256 byte symbols first (in Llama 3's order, '!' = 0), then one token per merge,
// then the special tokens (<|begin_of_text|> = bos, <|end_of_text|> = eos, then any extra ones).
// Each step merges the most frequent adjacent pair over all pre-tokenized words; ties go to the
// pair with the smaller (left, right) ids, so the same input always gives the same file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace si {

struct BpeTrainOptions {
  int32_t vocab_size = 4096;  // total, specials included
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
  std::vector<std::string> extra_specials;  // after <|begin_of_text|> and <|end_of_text|>
  bool progress = false;      // a progress line on stderr
};

class BpeTrainer {
 public:
  // Pre-tokenizes `text` and counts its pieces.
  void add_text(std::string_view text);
  size_t n_words() const { return word_counts_.size(); }
  // Throws si::Error when vocab_size cannot hold the byte symbols and the specials.
  Tokenizer train(const BpeTrainOptions& options) const;

 private:
  StringMap<int64_t> word_counts_;
};

}  // namespace si
