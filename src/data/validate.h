// data/validate.h — checks a JSONL data file (generated or a user's own) against a task spec.
//
//   si::TaskSpec spec = si::load_task_spec("cart");
//   si::ValidationReport r = si::validate_jsonl("my-data.jsonl", spec);
//   for (const auto& e : r.errors) fmt::print("{}:{}: {}\n", r.path, e.line, e.message);
//
// Row schema: {"id": string, "task": string, "lang": string, "catalog": [string] (catalog tasks
// only), "request": string, "output": object}. Each bad row gives one error naming its first
// problem; empty lines are errors too (a JSONL file has one object a line).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/task_spec.h"

namespace si {

struct RowError {
  int64_t line = 0;  // 1-based
  std::string message;
};

struct ValidationReport {
  std::string path;
  int64_t rows = 0;
  std::vector<RowError> errors;
  bool ok() const { return errors.empty(); }
};

// Problems of one parsed row (empty when valid).
std::vector<std::string> validate_row(const TaskSpec& spec, const nlohmann::json& row);

ValidationReport validate_jsonl(const std::string& path, const TaskSpec& spec, size_t max_errors = 1000);

}  // namespace si
