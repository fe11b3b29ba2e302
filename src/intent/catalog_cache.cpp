#include "intent/catalog_cache.h"

#include "core/error.h"
#include "intent/prompt.h"

namespace si {

const CatalogCache::Entry& CatalogCache::get(const Tokenizer& tok, const TaskSpec& spec,
                                             const std::vector<std::string>& catalog, bool grammar) {
  auto it = lru_.begin();
  while (it != lru_.end() && it->catalog != catalog) ++it;
  if (it == lru_.end()) {
    if (lru_.size() >= capacity_) lru_.pop_back();
    lru_.push_front(Entry{catalog, encode_prompt_prefix(tok, spec, catalog), nullptr, {}});
  } else if (it != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, it);
  }
  Entry& e = lru_.front();
  if (grammar && !e.grammar && e.error.empty()) {
    try {
      e.grammar = std::make_shared<const AnswerGrammar>(compile_answer_grammar(spec, catalog));
    } catch (const Error& err) {
      e.error = err.what();
    }
  }
  return e;
}

}  // namespace si
