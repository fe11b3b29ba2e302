// intent/answer_grammar.h — a task spec and a catalog compiled into the automaton of every
// canonical answer (data/task_spec.h defines the canonical text).
//
//   si::AnswerGrammar g = si::compile_answer_grammar(spec, catalog);
//   g.dfa.accepts(R"({"intent": "add", "product": "Brot", "quantity": 2})");   // true
//   g.field_names[g.dfa.state(s).field]                                      // "product"
//
// Keys, quotes and punctuation are single-path chains (forced), enum values and catalog names are
// tries of their JSON-escaped text, integers a trie of their decimal forms within the spec's bounds,
// and a list is unrolled up to its max_items. The language is exactly the set of canonical answers
// that validate against the spec and the catalog.
#pragma once

#include <string>
#include <vector>

#include "data/task_spec.h"
#include "intent/byte_dfa.h"

namespace si {

struct AnswerGrammar {
  ByteDfa dfa;
  // Names of the decision points a state's `field` indexes: leaf fields ("intent", "product",
  // "quantity"; "actions.intent" inside a list) and, for a list, the list itself ("actions": how
  // many items). Confidence is reported per name.
  std::vector<std::string> field_names;
};

AnswerGrammar compile_answer_grammar(const TaskSpec& spec, const std::vector<std::string>& catalog);

// The JSON string literal of `s` exactly as canonical_answer writes it (quotes included).
std::string canonical_json_string(const std::string& s);

}  // namespace si
