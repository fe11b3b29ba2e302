// shopintent data validate — check a JSONL data file against a task spec, row by row.
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "data/validate.h"

namespace si::cli {

void register_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Work with JSONL data files");
  cmd->require_subcommand(1);
  auto* val = cmd->add_subcommand("validate", "Check every row of a JSONL file against a task spec");
  auto file = std::make_shared<std::string>();
  auto task = std::make_shared<std::string>("cart");
  val->add_option("file", *file, "JSONL file")->required();
  val->add_option("--task", *task, "Task spec name or path")->capture_default_str();
  val->callback([file, task] {
    TaskSpec spec = load_task_spec(*task);
    ValidationReport r = validate_jsonl(*file, spec);
    for (const auto& e : r.errors) fmt::print("{}:{}: {}\n", r.path, e.line, e.message);
    if (!r.ok())
      throw Error(fmt::format("{} of {} rows are invalid for task {}", r.errors.size() >= 1000 ? ">=1000" : std::to_string(r.errors.size()),
                              r.rows, spec.name))
          .at(*file)
          .hint("fix the rows listed above (schema: docs/data.md)");
    fmt::print("{}: {} rows, all valid for task {}\n", r.path, r.rows, spec.name);
  });
}

}  // namespace si::cli
