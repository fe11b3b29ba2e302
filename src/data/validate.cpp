#include "data/validate.h"

#include <set>

#include "core/error.h"
#include "core/mmap.h"

namespace si {

using nlohmann::json;

std::vector<std::string> validate_row(const TaskSpec& spec, const json& row) {
  std::vector<std::string> p;
  if (!row.is_object()) return {"row is not a JSON object"};
  for (const char* k : {"id", "task", "lang", "request"}) {
    if (!row.contains(k)) p.push_back(std::string("missing key \"") + k + "\"");
    else if (!row[k].is_string()) p.push_back(std::string("\"") + k + "\" must be a string, got " + row[k].dump());
  }
  if (!p.empty()) return p;
  if (row["task"].get<std::string>() != spec.name)
    p.push_back("task is \"" + row["task"].get<std::string>() + "\", expected \"" + spec.name + "\"");
  if (row["request"].get<std::string>().empty()) p.push_back("request is empty");
  std::vector<std::string> catalog;
  if (spec.uses_catalog) {
    if (!row.contains("catalog")) {
      p.push_back("missing key \"catalog\"");
    } else if (!row["catalog"].is_array() || row["catalog"].empty()) {
      p.push_back("\"catalog\" must be a non-empty list of product names");
    } else {
      std::set<std::string> seen;
      for (const auto& c : row["catalog"]) {
        if (!c.is_string()) { p.push_back("catalog entries must be strings, got " + c.dump()); break; }
        std::string s = c.get<std::string>();
        if (s.empty() || s.find('\n') != std::string::npos) p.push_back("catalog entry \"" + s + "\" is empty or has a newline");
        if (!seen.insert(s).second) p.push_back("catalog lists \"" + s + "\" twice");
        catalog.push_back(std::move(s));
      }
    }
  } else if (row.contains("catalog")) {
    p.push_back("task " + spec.name + " has no catalog, but the row has \"catalog\"");
  }
  for (auto it = row.begin(); it != row.end(); ++it) {
    const std::string& k = it.key();
    if (k != "id" && k != "task" && k != "lang" && k != "catalog" && k != "request" && k != "output")
      p.push_back("unknown key \"" + k + "\"");
  }
  if (!row.contains("output")) {
    p.push_back("missing key \"output\"");
  } else {
    for (auto& problem : validate_output(spec, row["output"], catalog)) p.push_back("output." + problem);
  }
  return p;
}

ValidationReport validate_jsonl(const std::string& path, const TaskSpec& spec, size_t max_errors) {
  ValidationReport r;
  r.path = path;
  MappedFile f(path);
  std::string_view text(reinterpret_cast<const char*>(f.data()), f.size());
  std::set<std::string> ids;
  size_t pos = 0;
  int64_t line = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view s = text.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    ++r.rows;
    auto add = [&](const std::string& m) {
      if (r.errors.size() < max_errors) r.errors.push_back({line, m});
    };
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    if (s.empty()) { add("empty line (JSONL has one JSON object a line)"); continue; }
    json row;
    try {
      row = json::parse(s);
    } catch (const json::parse_error& e) {
      add(fmt::format("not valid JSON at column {}: {}", e.byte, e.what()));
      continue;
    }
    auto problems = validate_row(spec, row);
    if (problems.empty() && !ids.insert(row["id"].get<std::string>()).second)
      problems.push_back("duplicate id \"" + row["id"].get<std::string>() + "\"");
    if (!problems.empty()) {
      std::string m = problems[0];
      if (problems.size() > 1) m += fmt::format(" (and {} more)", problems.size() - 1);
      add(m);
    }
  }
  return r;
}

}  // namespace si
