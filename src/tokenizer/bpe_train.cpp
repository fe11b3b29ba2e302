#include "tokenizer/bpe_train.h"

#include <algorithm>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "core/progress.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenize.h"

namespace si {
namespace {

uint64_t pack(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct Word {
  std::vector<int32_t> symbols;
  int64_t count;
};

struct HeapEntry {
  int64_t count;
  uint64_t pair;
  // Largest count first; on equal counts the smaller (left, right) pair first.
  bool operator<(const HeapEntry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

}  // namespace

void BpeTrainer::add_text(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t j = llama3_piece_end(text, i);
    const std::string_view piece = text.substr(i, j - i);
    auto it = word_counts_.find(piece);
    if (it == word_counts_.end()) {
      word_counts_.emplace(std::string(piece), 1);
    } else {
      ++it->second;
    }
    i = j;
  }
}

Tokenizer BpeTrainer::train(const BpeTrainOptions& options) const {
  std::vector<std::string> specials = {"<|begin_of_text|>", "<|end_of_text|>"};
  for (const std::string& s : options.extra_specials) {
    SI_CHECK(!s.empty(), "special tokens must not be empty");
    SI_CHECK(std::find(specials.begin(), specials.end(), s) == specials.end(), "special token '{}' given twice", s);
    specials.push_back(s);
  }
  const int32_t min_vocab = 256 + int32_t(specials.size());
  SI_CHECK(options.vocab_size >= min_vocab, "vocabulary size {} is too small: the {} byte symbols and {} special tokens need {}",
           options.vocab_size, 256, specials.size(), min_vocab);
  const int32_t n_tokens_max = options.vocab_size - int32_t(specials.size());  // before the specials

  // Token id k < 256 is the byte byte_order(k); tokens are kept as raw bytes while training.
  std::vector<std::string> token_bytes;
  StringMap<int32_t> id_of_token;
  int32_t id_of_byte[256];
  for (int k = 0; k < 256; ++k) {
    token_bytes.emplace_back(1, char(byte_order(k)));
    id_of_token.emplace(token_bytes.back(), k);
    id_of_byte[byte_order(k)] = k;
  }

  // Words sorted by their bytes so that nothing depends on hash order.
  std::vector<std::pair<std::string_view, int64_t>> sorted;
  sorted.reserve(word_counts_.size());
  for (const auto& [w, c] : word_counts_) sorted.emplace_back(w, c);
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (const auto& [w, c] : sorted) {
    Word word{{}, c};
    for (char ch : w) word.symbols.push_back(id_of_byte[uint8_t(ch)]);
    words.push_back(std::move(word));
  }

  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> pair_words;  // may hold stale / repeated words
  for (uint32_t w = 0; w < words.size(); ++w) {
    const auto& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t p = pack(s[i], s[i + 1]);
      pair_count[p] += words[w].count;
      auto& where = pair_words[p];
      if (where.empty() || where.back() != w) where.push_back(w);
    }
  }
  std::priority_queue<HeapEntry> heap;
  for (const auto& [p, c] : pair_count) heap.push({c, p});

  std::vector<std::pair<std::string, std::string>> merges;
  Progress progress("tokenizer-train", n_tokens_max - 256, "tokens", !options.progress);
  std::vector<uint64_t> touched;
  while (int32_t(token_bytes.size()) < n_tokens_max && !heap.empty()) {
    const HeapEntry top = heap.top();
    heap.pop();
    auto pc = pair_count.find(top.pair);
    const int64_t current = pc == pair_count.end() ? 0 : pc->second;
    if (current != top.count) {  // stale entry: requeue with the current count
      if (current > 0) heap.push({current, top.pair});
      continue;
    }
    if (current < options.min_frequency) break;
    const int32_t a = int32_t(top.pair >> 32), b = int32_t(uint32_t(top.pair));
    // Two merges can spell the same token ("ab c", "a bc"): the second reuses its id, as HF's trainer.
    std::string merged = token_bytes[size_t(a)] + token_bytes[size_t(b)];
    auto known = id_of_token.find(merged);
    const int32_t c = known != id_of_token.end() ? known->second : int32_t(token_bytes.size());
    if (known == id_of_token.end()) {
      id_of_token.emplace(merged, c);
      token_bytes.push_back(std::move(merged));
      progress.advance();
    }
    merges.emplace_back(bytes_to_piece(token_bytes[size_t(a)]), bytes_to_piece(token_bytes[size_t(b)]));

    std::vector<uint32_t> affected = std::move(pair_words[top.pair]);
    pair_words.erase(top.pair);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
    touched.clear();
    for (uint32_t w : affected) {
      Word& word = words[w];
      auto& s = word.symbols;
      // Take the word's pairs out, merge a b -> c left to right, put the new pairs in.
      for (size_t i = 0; i + 1 < s.size(); ++i) pair_count[pack(s[i], s[i + 1])] -= word.count;
      size_t out = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[out++] = c;
          ++i;
        } else {
          s[out++] = s[i];
        }
      }
      s.resize(out);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t p = pack(s[i], s[i + 1]);
        pair_count[p] += word.count;
        auto& where = pair_words[p];
        if (where.empty() || where.back() != w) where.push_back(w);
        touched.push_back(p);
      }
    }
    pair_count.erase(top.pair);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t p : touched) heap.push({pair_count[p], p});
  }
  progress.finish();

  TokenizerSpec spec;
  for (const std::string& t : token_bytes) {
    spec.pieces.push_back(bytes_to_piece(t));
    spec.types.push_back(TokenType::Normal);
  }
  spec.merges = std::move(merges);
  spec.ignore_merges = true;  // as Llama 3's tokenizer.json
  for (const std::string& s : specials) {
    spec.pieces.push_back(s);
    spec.types.push_back(TokenType::Control);
  }
  spec.bos_id = int32_t(token_bytes.size());
  spec.eos_id = spec.bos_id + 1;
  return Tokenizer::from_spec(std::move(spec), "tokenizer-train");
}

}  // namespace si
