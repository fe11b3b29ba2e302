#include <set>

#include <gtest/gtest.h>

#include "core/error.h"
#include "data/task_spec.h"
#include "intent/answer_grammar.h"

namespace si {
namespace {

using nlohmann::json;

// Every canonical answer for (spec, catalog): built from the spec independently of the automaton.
void all_outputs(const std::vector<Field>& fields, size_t i, json obj, const std::vector<std::string>& catalog,
                 std::vector<json>* out);

std::vector<json> field_values(const Field& f, const std::vector<std::string>& catalog) {
  std::vector<json> v;
  switch (f.type) {
    case FieldType::Enum: for (const auto& s : f.values) v.push_back(s); break;
    case FieldType::CatalogRef: for (const auto& s : catalog) v.push_back(s); break;
    case FieldType::Int: for (int64_t x = f.min; x <= f.max; ++x) v.push_back(x); break;
    case FieldType::List: {
      std::vector<json> items;
      all_outputs(f.item_fields, 0, json::object(), catalog, &items);
      std::vector<json> lists = {json::array()};
      for (int64_t n = 1; n <= f.max_items; ++n) {
        std::vector<json> longer;
        for (const auto& l : lists)
          if (int64_t(l.size()) == n - 1)
            for (const auto& it : items) { json m = l; m.push_back(it); longer.push_back(m); }
        v.insert(v.end(), longer.begin(), longer.end());
        lists.insert(lists.end(), longer.begin(), longer.end());
      }
      v.insert(v.begin(), json::array());
      break;
    }
  }
  return v;
}

void all_outputs(const std::vector<Field>& fields, size_t i, json obj, const std::vector<std::string>& catalog,
                 std::vector<json>* out) {
  if (i == fields.size()) { out->push_back(obj); return; }
  for (const auto& v : field_values(fields[i], catalog)) {
    obj[fields[i].name] = v;
    all_outputs(fields, i + 1, obj, catalog, out);
  }
}

void expect_exact_language(const TaskSpec& spec, const std::vector<std::string>& catalog) {
  const AnswerGrammar g = compile_answer_grammar(spec, catalog);
  std::vector<json> outputs;
  all_outputs(spec.fields, 0, json::object(), catalog, &outputs);
  std::set<std::string> expected;
  for (const auto& o : outputs) expected.insert(canonical_answer(spec, o));
  const auto paths = g.dfa.enumerate(expected.size() + 10);
  const std::set<std::string> got(paths.begin(), paths.end());
  EXPECT_EQ(paths.size(), got.size()) << "a path was enumerated twice";
  EXPECT_EQ(got, expected);
  for (const auto& text : paths) {  // every path parses, validates and is canonical
    const ParsedAnswer p = parse_answer(spec, text);
    ASSERT_TRUE(p.output.has_value()) << text << ": " << p.error;
    EXPECT_TRUE(validate_output(spec, *p.output, catalog).empty()) << text;
    EXPECT_EQ(canonical_answer(spec, *p.output), text);
  }
}

TEST(AnswerGrammar, CartIsExactlyTheValidAnswers) {
  TaskSpec spec = load_task_spec("cart");
  // Names that are prefixes of others, non-Latin, and ones needing JSON escapes.
  expect_exact_language(spec, {"Milch", "Milch 1 l", "牛奶 1 l", "Молоко", "Say \"cheese\" 200 g", "Tab\\Slash"});
}

TEST(AnswerGrammar, ListSpecIsExactlyTheValidAnswers) {
  TaskSpec spec = load_task_spec("cart-multi");
  spec.fields[0].max_items = 2;  // keep the enumeration small
  spec.fields[0].item_fields[2].max = 3;
  expect_exact_language(spec, {"Brot", "Brötchen"});
  EXPECT_TRUE(compile_answer_grammar(spec, {"Brot"}).dfa.accepts("{\"actions\": []}"));
}

TEST(AnswerGrammar, SupportSpecNeedsNoCatalog) {
  const TaskSpec spec = load_task_spec("support");
  const AnswerGrammar g = compile_answer_grammar(spec, {});
  EXPECT_TRUE(g.dfa.accepts("{\"intent\": \"order_status\"}"));
  EXPECT_FALSE(g.dfa.accepts("{\"intent\": \"order\"}"));
}

TEST(AnswerGrammar, FieldsAreNamedAndForcedRunsCoverKeys) {
  const TaskSpec spec = load_task_spec("cart");
  const AnswerGrammar g = compile_answer_grammar(spec, {"Brot", "Butter"});
  EXPECT_EQ(g.dfa.forced_run(g.dfa.start()), "{\"intent\": \"");
  const int s = g.dfa.walk(g.dfa.start(), "{\"intent\": \"add\", \"product\": \"B");
  ASSERT_NE(s, ByteDfa::kNone);
  EXPECT_EQ(g.field_names[size_t(g.dfa.state(s).field)], "product");
  EXPECT_THROW(compile_answer_grammar(spec, {}), Error);  // a catalog task with an empty catalog
}

}  // namespace
}  // namespace si
