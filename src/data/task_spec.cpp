#include "data/task_spec.h"

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "core/error.h"
#include "core/mmap.h"

#ifndef SHOPINTENT_SOURCE_DIR
#define SHOPINTENT_SOURCE_DIR "."
#endif

namespace si {

using nlohmann::json;
namespace fs = std::filesystem;

const char* field_type_name(FieldType t) {
  switch (t) {
    case FieldType::Enum: return "enum";
    case FieldType::CatalogRef: return "catalog";
    case FieldType::Int: return "int";
    case FieldType::List: return "list";
  }
  return "?";
}

namespace {

[[noreturn]] void spec_fail(const std::string& path, const std::string& what) {
  throw Error(what).at(path).hint("fix the task spec (format: docs/data.md)");
}

Field parse_field(const json& j, const std::string& path, const std::string& where, bool nested) {
  if (!j.is_object()) spec_fail(path, where + ": a field must be an object");
  Field f;
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    spec_fail(path, where + ": missing string \"name\"");
  f.name = j["name"].get<std::string>();
  std::string w = where + " (" + f.name + ")";
  if (!j.contains("type") || !j["type"].is_string()) spec_fail(path, w + ": missing string \"type\"");
  std::string type = j["type"].get<std::string>();
  if (type == "enum") {
    f.type = FieldType::Enum;
    if (!j.contains("values") || !j["values"].is_array() || j["values"].empty())
      spec_fail(path, w + ": enum needs a non-empty \"values\" array");
    for (const auto& v : j["values"]) {
      if (!v.is_string()) spec_fail(path, w + ": enum values must be strings");
      f.values.push_back(v.get<std::string>());
    }
  } else if (type == "catalog") {
    f.type = FieldType::CatalogRef;
  } else if (type == "int") {
    f.type = FieldType::Int;
    for (const char* k : {"min", "max", "default"})
      if (!j.contains(k) || !j[k].is_number_integer()) spec_fail(path, w + ": int needs integer \"" + k + "\"");
    f.min = j["min"].get<int64_t>();
    f.max = j["max"].get<int64_t>();
    f.default_value = j["default"].get<int64_t>();
    if (f.min > f.max || f.default_value < f.min || f.default_value > f.max)
      spec_fail(path, w + ": int needs min <= default <= max");
  } else if (type == "list") {
    if (nested) spec_fail(path, w + ": lists cannot be nested");
    f.type = FieldType::List;
    if (!j.contains("max_items") || !j["max_items"].is_number_integer() || j["max_items"].get<int64_t>() < 1)
      spec_fail(path, w + ": list needs integer \"max_items\" >= 1");
    f.max_items = j["max_items"].get<int64_t>();
    if (!j.contains("fields") || !j["fields"].is_array() || j["fields"].empty())
      spec_fail(path, w + ": list needs a non-empty \"fields\" array");
    for (size_t i = 0; i < j["fields"].size(); ++i)
      f.item_fields.push_back(parse_field(j["fields"][i], path, w + ".fields[" + std::to_string(i) + "]", true));
  } else {
    spec_fail(path, w + ": unknown type \"" + type + "\" (expected enum, catalog, int or list)");
  }
  return f;
}

bool any_catalog(const std::vector<Field>& fields) {
  for (const auto& f : fields)
    if (f.type == FieldType::CatalogRef || (f.type == FieldType::List && any_catalog(f.item_fields))) return true;
  return false;
}

std::string exe_dir() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return p.parent_path().string();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

// ---- canonical text ------------------------------------------------------------------------------

void append_string(std::string& out, const std::string& s) {
  // nlohmann's dump escapes '"', '\\' and control characters and keeps UTF-8 as is.
  out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

void append_object(std::string& out, const std::vector<Field>& fields, const json& obj, const std::string& where);

void append_value(std::string& out, const Field& f, const json& v, const std::string& where) {
  switch (f.type) {
    case FieldType::Enum:
    case FieldType::CatalogRef:
      if (!v.is_string()) fail("canonical_answer: {}{} must be a string", where, f.name);
      append_string(out, v.get<std::string>());
      break;
    case FieldType::Int:
      if (!v.is_number_integer()) fail("canonical_answer: {}{} must be an integer", where, f.name);
      out += std::to_string(v.get<int64_t>());
      break;
    case FieldType::List: {
      if (!v.is_array()) fail("canonical_answer: {}{} must be a list", where, f.name);
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        append_object(out, f.item_fields, v[i], where + f.name + "[" + std::to_string(i) + "].");
      }
      out += ']';
      break;
    }
  }
}

void append_object(std::string& out, const std::vector<Field>& fields, const json& obj, const std::string& where) {
  if (!obj.is_object()) fail("canonical_answer: {}answer must be a JSON object", where);
  out += '{';
  for (size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    if (i) out += ", ";
    append_string(out, f.name);
    out += ": ";
    auto it = obj.find(f.name);
    if (it == obj.end()) {
      if (f.type == FieldType::Int) out += std::to_string(f.default_value);
      else if (f.type == FieldType::List) out += "[]";
      else fail("canonical_answer: {}{} is missing", where, f.name);
    } else {
      append_value(out, f, *it, where);
    }
  }
  out += '}';
}

// ---- shape checks (shared by parse_answer and validate_output) -------------------------------------

void check_object(const std::vector<Field>& fields, const json& obj, const std::vector<std::string>* catalog,
                  const std::string& where, std::vector<std::string>& problems);

void check_value(const Field& f, const json& v, const std::vector<std::string>* catalog, const std::string& name,
                 std::vector<std::string>& problems) {
  switch (f.type) {
    case FieldType::Enum: {
      if (!v.is_string()) { problems.push_back(name + ": expected a string, got " + v.dump()); return; }
      const auto s = v.get<std::string>();
      bool ok = false;
      for (const auto& e : f.values) ok = ok || e == s;
      if (!ok) {
        std::string allowed;
        for (const auto& e : f.values) allowed += (allowed.empty() ? "" : "|") + e;
        problems.push_back(name + ": unknown value \"" + s + "\" (expected " + allowed + ")");
      }
      return;
    }
    case FieldType::CatalogRef: {
      if (!v.is_string()) { problems.push_back(name + ": expected a catalog name (string), got " + v.dump()); return; }
      if (!catalog) return;
      const auto s = v.get<std::string>();
      bool ok = false;
      for (const auto& c : *catalog) ok = ok || c == s;
      if (!ok) problems.push_back(name + ": \"" + s + "\" is not in the catalog");
      return;
    }
    case FieldType::Int: {
      if (!v.is_number_integer()) { problems.push_back(name + ": expected an integer, got " + v.dump()); return; }
      // Unsigned and signed integers both land here; compare as int64 after a range check.
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        problems.push_back(name + ": " + v.dump() + " is out of range");
        return;
      }
      int64_t x = v.get<int64_t>();
      if (x < f.min || x > f.max)
        problems.push_back(name + ": " + std::to_string(x) + " is out of range [" + std::to_string(f.min) + ", " +
                           std::to_string(f.max) + "]");
      return;
    }
    case FieldType::List: {
      if (!v.is_array()) { problems.push_back(name + ": expected a list, got " + v.dump()); return; }
      if (static_cast<int64_t>(v.size()) > f.max_items)
        problems.push_back(name + ": " + std::to_string(v.size()) + " items, at most " + std::to_string(f.max_items) +
                           " allowed");
      for (size_t i = 0; i < v.size(); ++i)
        check_object(f.item_fields, v[i], catalog, name + "[" + std::to_string(i) + "].", problems);
      return;
    }
  }
}

void check_object(const std::vector<Field>& fields, const json& obj, const std::vector<std::string>* catalog,
                  const std::string& where, std::vector<std::string>& problems) {
  if (!obj.is_object()) {
    problems.push_back((where.empty() ? std::string("answer") : where.substr(0, where.size() - 1)) +
                       ": expected a JSON object");
    return;
  }
  for (const auto& f : fields) {
    auto it = obj.find(f.name);
    if (it == obj.end()) {
      problems.push_back(where + f.name + ": missing");
      continue;
    }
    check_value(f, *it, catalog, where + f.name, problems);
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const auto& f : fields) known = known || f.name == it.key();
    if (!known) problems.push_back(where + it.key() + ": unknown field");
  }
}

}  // namespace

const std::vector<std::string>& TaskSpec::intents() const {
  static const std::vector<std::string> none;
  for (const auto& f : fields) {
    if (f.name == "intent" && f.type == FieldType::Enum) return f.values;
    if (f.type == FieldType::List)
      for (const auto& g : f.item_fields)
        if (g.name == "intent" && g.type == FieldType::Enum) return g.values;
  }
  return none;
}

const Field* TaskSpec::list_field() const {
  return fields.size() == 1 && fields[0].type == FieldType::List ? &fields[0] : nullptr;
}

std::string data_dir() {
  if (const char* env = std::getenv("SHOPINTENT_DATA_DIR"); env && *env) return env;
  std::string exe = exe_dir();
  if (!exe.empty()) {
    for (const char* rel : {"/../../data", "/../share/shopintent/data"}) {
      fs::path p = fs::path(exe + rel);
      std::error_code ec;
      if (fs::is_directory(p / "tasks", ec)) return fs::weakly_canonical(p, ec).string();
    }
  }
  return std::string(SHOPINTENT_SOURCE_DIR) + "/data";
}

TaskSpec parse_task_spec(const std::string& json_text, const std::string& path) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw Error(std::string("task spec is not valid JSON: ") + e.what()).at(path, e.byte);
  }
  if (!j.is_object()) spec_fail(path, "task spec must be a JSON object");
  TaskSpec s;
  s.path = path;
  if (!j.contains("name") || !j["name"].is_string()) spec_fail(path, "missing string \"name\"");
  s.name = j["name"].get<std::string>();
  s.description = j.value("description", "");
  if (!j.contains("fields") || !j["fields"].is_array() || j["fields"].empty())
    spec_fail(path, "missing non-empty \"fields\" array");
  for (size_t i = 0; i < j["fields"].size(); ++i)
    s.fields.push_back(parse_field(j["fields"][i], path, "fields[" + std::to_string(i) + "]", false));
  for (size_t i = 0; i < s.fields.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (s.fields[i].name == s.fields[k].name) spec_fail(path, "duplicate field \"" + s.fields[i].name + "\"");
  for (const auto& f : s.fields)
    if (f.type == FieldType::List && s.fields.size() != 1)
      spec_fail(path, "a list field must be the only top-level field");
  s.uses_catalog = any_catalog(s.fields);
  if (!j.contains("prompt") || !j["prompt"].is_object()) spec_fail(path, "missing \"prompt\" object");
  const auto& p = j["prompt"];
  for (const char* k : {"prefix", "catalog_item", "request"})
    if (!p.contains(k) || !p[k].is_string()) spec_fail(path, std::string("prompt: missing string \"") + k + "\"");
  s.prompt.prefix = p["prefix"].get<std::string>();
  s.prompt.catalog_item = p["catalog_item"].get<std::string>();
  s.prompt.request = p["request"].get<std::string>();
  if (s.prompt.request.find("{request}") == std::string::npos)
    spec_fail(path, "prompt.request must contain {request}");
  if (s.uses_catalog && (s.prompt.prefix.find("{catalog}") == std::string::npos ||
                         s.prompt.catalog_item.find("{item}") == std::string::npos))
    spec_fail(path, "a spec with a catalog field needs {catalog} in prompt.prefix and {item} in prompt.catalog_item");
  return s;
}

TaskSpec load_task_spec(const std::string& name_or_path) {
  std::string path = name_or_path;
  bool is_path = name_or_path.find('/') != std::string::npos ||
                 (name_or_path.size() > 5 && name_or_path.substr(name_or_path.size() - 5) == ".json");
  if (!is_path) {
    path = data_dir() + "/tasks/" + name_or_path + ".json";
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw Error("unknown task \"" + name_or_path + "\"")
          .at(path)
          .hint("use a spec name from data/tasks/ (cart, cart-multi, support) or a path to a spec file; "
                "set SHOPINTENT_DATA_DIR if the data folder is elsewhere");
  }
  return parse_task_spec(read_file(path), path);
}

std::string canonical_answer(const TaskSpec& spec, const json& output) {
  std::string out;
  append_object(out, spec.fields, output, "");
  return out;
}

ParsedAnswer parse_answer(const TaskSpec& spec, const std::string& text) {
  ParsedAnswer r;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    r.error = "not valid JSON";
    return r;
  }
  std::vector<std::string> problems;
  check_object(spec.fields, j, nullptr, "", problems);
  if (!problems.empty()) {
    r.error = problems[0];
    return r;
  }
  r.output = std::move(j);
  return r;
}

std::vector<std::string> validate_output(const TaskSpec& spec, const json& output,
                                         const std::vector<std::string>& catalog) {
  std::vector<std::string> problems;
  check_object(spec.fields, output, spec.uses_catalog ? &catalog : nullptr, "", problems);
  return problems;
}

std::string render_prompt_prefix(const TaskSpec& spec, const std::vector<std::string>& catalog) {
  std::string items;
  if (spec.uses_catalog)
    for (const auto& c : catalog) items += replace_all(spec.prompt.catalog_item, "{item}", c);
  return replace_all(spec.prompt.prefix, "{catalog}", items);
}

std::string render_prompt_request(const TaskSpec& spec, const std::string& request) {
  return replace_all(spec.prompt.request, "{request}", request);
}

}  // namespace si
