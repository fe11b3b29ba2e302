// intent/catalog_cache.h — what the engine derives from a shop's catalog alone: the prompt prefix's
// token ids and the compiled answer grammar, kept for the last few catalogs.
//
// A batch of one shop's requests (the usual case: a service answers shops' customers) otherwise
// tokenizes the ~1 KB catalog prompt and compiles the catalog's automaton once per request; on the
// GPU those were about half of the engine's own host time per batch of 32 cart queries.
//
//   CatalogCache cache(8);
//   const CatalogCache::Entry& e = cache.get(tok, spec, catalog, /*grammar=*/true);
//   e.prefix;  e.grammar (nullptr when the catalog cannot be compiled: e.error says why)
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "data/task_spec.h"
#include "intent/answer_grammar.h"
#include "tokenizer/tokenizer.h"

namespace si {

class CatalogCache {
 public:
  explicit CatalogCache(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  struct Entry {
    std::vector<std::string> catalog;
    std::vector<int32_t> prefix;                  // encode_prompt_prefix
    std::shared_ptr<const AnswerGrammar> grammar;  // compile_answer_grammar, when asked for
    std::string error;                             // why the grammar could not be compiled
  };
  // The entry for `catalog` (made on a miss, evicting the least recently used one). With `grammar`,
  // an entry made without one gets it. The reference stays valid until the next call.
  const Entry& get(const Tokenizer& tok, const TaskSpec& spec, const std::vector<std::string>& catalog, bool grammar);

 private:
  size_t capacity_;
  std::list<Entry> lru_;  // front: most recently used
};

}  // namespace si
