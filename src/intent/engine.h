// intent/engine.h — turns (catalog, message) requests into answers of a task spec, in batches.
//
//   IntentEngine engine(backend, tokenizer, spec, {.mode = DecodeMode::Constrained});
//   std::vector<IntentResult> out = engine.run(requests);
//   out[0].output   // {"intent": "add", "product": "Roggenbrot 500 g", "quantity": 2}
//
// Constrained decoding (the default) walks the automaton of the spec's canonical answers
// (intent/answer_grammar.h): bytes that are forced (keys, quotes, punctuation) are fed as their
// canonical tokens in the same batched pass as the previous choice, a choice among several tokens
// computes logits for the allowed vocabulary rows only, and a choice with a single allowed token
// costs nothing. The answer is always a valid canonical answer naming a real catalog product.
// Free decoding is the paper's way: greedy over the full vocabulary until end-of-text, then parse.
//
// Catalog prefixes are kept in a KV cache (intent/prefix_cache.h) and copied into the request's
// slot, so a shop's catalog is processed once; its prompt tokens and answer grammar are kept too
// (intent/catalog_cache.h).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/task_spec.h"
#include "intent/catalog_cache.h"
#include "intent/lm_backend.h"
#include "intent/prefix_cache.h"
#include "intent/token_trie.h"
#include "tokenizer/tokenizer.h"

namespace si {

enum class DecodeMode { Constrained, Free };

struct IntentOptions {
  DecodeMode mode = DecodeMode::Constrained;
  int max_batch = 32;        // requests decoded together
  int cache_slots = 8;       // catalog prefixes kept (each one backend slot)
  bool use_cache = true;     // false: every request prefills its whole prompt
  int max_new_tokens = 128;  // free decoding stops here
};

struct IntentRequest {
  std::vector<std::string> catalog;
  std::string text;
  // Free decoding only: feed these answer ids instead of the argmax (full logits are still
  // computed each step). Makes free decoding's cost comparable with random weights, which ramble.
  std::vector<int32_t> charge_answer;
};

struct IntentResult {
  std::string answer;                     // the generated answer text
  std::optional<nlohmann::json> output;   // parsed answer; empty when invalid (free decoding)
  std::string error;                      // why the answer is invalid
  double confidence = 0.0;                // probability of the chosen path (see engine.cpp)
  std::vector<std::pair<std::string, double>> field_confidence;  // per decision point
  int prompt_tokens = 0;    // prefix + request
  int cached_tokens = 0;    // prompt tokens taken from the prefix cache
  int answer_tokens = 0;    // tokens of the answer (fed or chosen), eos excluded
  int choices = 0;          // steps that needed logits
};

class IntentEngine {
 public:
  IntentEngine(LmBackend& backend, const Tokenizer& tokenizer, const TaskSpec& spec, IntentOptions options);

  std::vector<IntentResult> run(std::span<const IntentRequest> requests);
  const PrefixCache& cache() const { return cache_; }
  const IntentOptions& options() const { return options_; }

 private:
  void run_chunk(std::span<const IntentRequest> requests, std::span<IntentResult> results);

  LmBackend& backend_;
  const Tokenizer& tok_;
  const TaskSpec& spec_;
  IntentOptions options_;
  TokenTrie trie_;
  PrefixCache cache_;
  CatalogCache catalogs_;  // prompt prefix ids and answer grammar per recent catalog
};

}  // namespace si
