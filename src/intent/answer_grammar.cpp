#include "intent/answer_grammar.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace si {
namespace {

constexpr int64_t kMaxIntAlternatives = 100000;

class Compiler {
 public:
  Compiler(AnswerGrammar* g, const std::vector<std::string>& catalog) : g_(g), catalog_(catalog) {}

  int field_id(const std::string& name) {
    auto it = std::find(g_->field_names.begin(), g_->field_names.end(), name);
    if (it != g_->field_names.end()) return int(it - g_->field_names.begin());
    g_->field_names.push_back(name);
    return int(g_->field_names.size()) - 1;
  }

  // `"key": <value>` pairs of `fields` separated by ", ", wrapped in braces, then `next`.
  int object(const std::vector<Field>& fields, const std::string& prefix, int next) {
    ByteDfa& d = g_->dfa;
    int s = d.add_literal("}", next, -1);
    for (size_t i = fields.size(); i-- > 0;) {
      s = value(fields[i], prefix, s);
      const std::string key = canonical_json_string(fields[i].name) + ": ";
      s = d.add_literal(i == 0 ? "{" + key : ", " + key, s, -1);
    }
    return s;
  }

  int value(const Field& f, const std::string& prefix, int next) {
    ByteDfa& d = g_->dfa;
    const int id = field_id(prefix + f.name);
    switch (f.type) {
      case FieldType::Enum: return strings(f.values, f.name, id, next);
      case FieldType::CatalogRef: return strings(catalog_, f.name, id, next);
      case FieldType::Int: {
        SI_CHECK(f.max >= f.min && f.max - f.min < kMaxIntAlternatives,
                 "field '{}': integer range [{}, {}] is empty or too wide for constrained decoding", f.name, f.min, f.max);
        std::vector<std::string> options;
        for (int64_t v = f.min; v <= f.max; ++v) options.push_back(std::to_string(v));
        return d.add_alternatives(options, next, id);
      }
      case FieldType::List: {
        // "[" then 0..max_items objects separated by ", ", then "]": unrolled right to left. The
        // state after k items chooses between "]" and ", " (or, for k = 0, "]" and "{").
        const int close = d.add_literal("]", next, id);
        int after = close;  // state after the last allowed item: only "]"
        for (int64_t k = f.max_items; k >= 1; --k) {
          const int item = object(f.item_fields, f.name + ".", after);
          if (k == 1) {
            after = item;  // first item: no separator
          } else {
            const int sep = d.add_literal(", ", item, id);
            const int choice = d.add_state(id);
            d.merge_into(choice, close);
            d.merge_into(choice, sep);
            after = choice;
          }
        }
        const int open_choice = d.add_state(id);
        d.merge_into(open_choice, close);
        if (f.max_items > 0) d.merge_into(open_choice, after);
        return d.add_literal("[", open_choice, id);
      }
    }
    fail("field '{}': unknown type", f.name);
  }

 private:
  int strings(const std::vector<std::string>& options, const std::string& name, int id, int next) {
    SI_CHECK(!options.empty(), "field '{}': nothing to choose from (empty {})", name,
             options.data() == catalog_.data() ? "catalog" : "value list");
    std::vector<std::string> bodies;  // escaped text between the quotes
    for (const auto& o : options) {
      const std::string lit = canonical_json_string(o);
      bodies.push_back(lit.substr(1, lit.size() - 2));
    }
    std::sort(bodies.begin(), bodies.end());
    bodies.erase(std::unique(bodies.begin(), bodies.end()), bodies.end());
    ByteDfa& d = g_->dfa;
    const int close = d.add_literal("\"", next, -1);
    return d.add_literal("\"", d.add_alternatives(bodies, close, id), -1);
  }

  AnswerGrammar* g_;
  const std::vector<std::string>& catalog_;
};

}  // namespace

std::string canonical_json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

AnswerGrammar compile_answer_grammar(const TaskSpec& spec, const std::vector<std::string>& catalog) {
  AnswerGrammar g;
  Compiler c(&g, catalog);
  const int end = g.dfa.add_state(-1, /*accept=*/true);
  g.dfa.set_start(c.object(spec.fields, "", end));
  return g;
}

}  // namespace si
