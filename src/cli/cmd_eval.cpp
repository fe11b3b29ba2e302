// shopintent eval — accuracy and speed of a model on a labelled JSONL file.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/intent_options.h"
#include "core/atomic_file.h"
#include "intent/eval.h"

namespace si::cli {

void register_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a model on a JSONL data file: exact match, per field/language/intent, speed, memory");
  auto o = std::make_shared<IntentCli>();
  auto data = std::make_shared<std::string>();
  auto json_out = std::make_shared<std::string>();
  auto limit = std::make_shared<int64_t>(0);
  auto charge = std::make_shared<bool>(false);
  o->add_to(cmd);
  cmd->add_option("--data,-d", *data, "JSONL rows {id, lang, catalog, request, output}")->required();
  cmd->add_option("--json", *json_out, "Also write the report as one JSON object to this file");
  cmd->add_option("--limit", *limit, "Evaluate the first N rows only")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--charge-reference", *charge,
                "Free decoding: feed the reference answer's tokens instead of the argmax, paying for full logits "
                "(fair speed figures for models that never stop, e.g. random weights)");
  cmd->callback([=] {
    auto stack = build_intent_stack(*o);
    const auto rows = read_eval_rows(*data, stack->spec, *limit);
    const EvalReport r = evaluate(*stack->engine, stack->tokenizer, stack->spec, rows, stack->backend->model_bytes(),
                                  *charge && o->decode == "free");
    fmt::print("{}\n{}", stack->model.describe(), r.text());
    if (!json_out->empty()) write_file_atomic(*json_out, r.to_json().dump(2) + "\n");
  });
}

}  // namespace si::cli
