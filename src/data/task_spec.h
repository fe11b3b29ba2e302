// data/task_spec.h — a task (what the model answers) described as data, in data/tasks/<name>.json.
//
//   si::TaskSpec spec = si::load_task_spec("cart");            // or a path to a .json file
//   std::string prompt = si::render_prompt_prefix(spec, catalog)  // cacheable per shop
//                      + si::render_prompt_request(spec, "Zwei Roggenbrote bitte");
//   std::string answer = si::canonical_answer(spec, output);   // the training target text
//   si::ParsedAnswer p = si::parse_answer(spec, generated);    // p.output or p.error
//   std::vector<std::string> problems = si::validate_output(spec, *p.output, catalog);
//
// Code is written against the spec, never against "cart" by name. A spec has an ordered list of
// output fields; each field is an enum, a catalog reference, a bounded integer, or a list of objects
// (whose item fields are again enum / catalog / int). See docs/data.md for the file format.
//
// The canonical answer text (THE one definition, used for training targets, constrained decoding
// and exact-match evaluation):
//   - one JSON object; keys in spec order, every field present (an int uses its default when unstated);
//   - after every ':' and ',' exactly one space, no other whitespace, no trailing newline;
//   - strings are JSON-escaped ('"', '\\' and control characters; other UTF-8 bytes are kept as is);
//   - lists are "[]" when empty, else "[" item ", " item "]".
//   e.g. {"intent": "add", "product": "Roggenbrot 500 g", "quantity": 2}
//        {"actions": [{"intent": "remove", "product": "Butter 250 g", "quantity": 1}]}
//        {"actions": []}
//
// Prompt layout (base model, no chat template): prefix (instruction + catalog) + request part, and
// the answer follows directly after the request part; the end of the answer is the tokenizer's
// end-of-text token. The prefix depends only on (spec, catalog), so its KV cache can be reused for
// every request to the same shop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace si {

enum class FieldType { Enum, CatalogRef, Int, List };

const char* field_type_name(FieldType t);  // "enum", "catalog", "int", "list" (as in the spec file)

struct Field {
  std::string name;
  FieldType type = FieldType::Enum;
  std::vector<std::string> values;  // Enum: the allowed values, in spec order
  int64_t min = 0;                  // Int: inclusive bounds and the value used when unstated
  int64_t max = 0;
  int64_t default_value = 0;
  int64_t max_items = 0;            // List: at most this many items (0 items is always allowed)
  std::vector<Field> item_fields;   // List: the fields of each item object (no nested lists)
};

struct PromptTemplate {
  std::string prefix;        // may contain "{catalog}"; rendered once per (spec, catalog)
  std::string catalog_item;  // one catalog line, contains "{item}", e.g. "- {item}\n"
  std::string request;       // contains "{request}", ends where the answer starts
};

struct TaskSpec {
  std::string name;          // "cart"
  std::string description;
  std::string path;          // the file it was loaded from
  bool uses_catalog = false; // true when any field is a catalog reference
  std::vector<Field> fields; // the answer object's fields, in canonical order
  PromptTemplate prompt;

  // The values of the field named "intent" (top level, or inside the list field): what the data
  // generator produces and stratifies by. Empty when the spec has no such field.
  const std::vector<std::string>& intents() const;
  // The list field when the answer is {"<list>": [...]}, else nullptr.
  const Field* list_field() const;
};

// Loads a spec by name ("cart" -> <data dir>/tasks/cart.json) or by path (anything containing '/'
// or ending in ".json"). Throws si::Error naming the file and the bad key on a malformed spec.
TaskSpec load_task_spec(const std::string& name_or_path);
// Parses a spec from JSON text; `path` is used in error messages.
TaskSpec parse_task_spec(const std::string& json_text, const std::string& path);

// The data directory (task specs, language resources): $SHOPINTENT_DATA_DIR, else ../../data or
// ../share/shopintent/data next to the executable, else the source tree's data/ (compile time).
std::string data_dir();

// The canonical answer text for `output` (see the rule above). Throws si::Error when `output` does
// not have the spec's shape (use validate_output first for user data).
std::string canonical_answer(const TaskSpec& spec, const nlohmann::json& output);

struct ParsedAnswer {
  std::optional<nlohmann::json> output;  // set when the text is a well-formed answer for the spec
  std::string error;                     // why not, otherwise
};
// Parses answer text (canonical or any valid JSON of the right shape: field types, enum values,
// int ranges, list length). Catalog membership is not checked here (see validate_output).
ParsedAnswer parse_answer(const TaskSpec& spec, const std::string& text);

// Every problem with `output` for this spec and catalog, as short messages naming the field, e.g.
// "product: \"Brot\" is not in the catalog". Empty when valid. For specs without a catalog field the
// catalog is ignored.
std::vector<std::string> validate_output(const TaskSpec& spec, const nlohmann::json& output,
                                         const std::vector<std::string>& catalog);

// Prompt parts: prefix(spec, catalog) + request(spec, text) is the full prompt; the answer follows.
std::string render_prompt_prefix(const TaskSpec& spec, const std::vector<std::string>& catalog);
std::string render_prompt_request(const TaskSpec& spec, const std::string& request);

}  // namespace si
