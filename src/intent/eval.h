// intent/eval.h — accuracy and speed of an intent engine on a labelled JSONL file.
//
//   std::vector<EvalRow> rows = read_eval_rows("test.jsonl", spec, /*limit=*/0);
//   EvalReport r = evaluate(engine, spec, rows, model_bytes);
//   fmt::print("{}", r.text());  write_file_atomic("out.json", r.to_json().dump(2));
//
// Exact match (the paper's metric) compares the whole answer object with the reference. Latency
// is per request: requests decoded in one batch all finish when the batch does, so a request's
// latency is its batch's wall time (with --batch 1 it is the plain per-request latency).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/task_spec.h"
#include "intent/engine.h"

namespace si {

struct EvalRow {
  std::string id, lang;
  std::vector<std::string> catalog;
  std::string request;
  nlohmann::json output;  // the reference answer
};

// Reads and validates rows; a bad row is an si::Error naming the file and line. limit 0 = all.
std::vector<EvalRow> read_eval_rows(const std::string& path, const TaskSpec& spec, int64_t limit);

struct EvalReport {
  nlohmann::json data;  // see evaluate() for the keys
  std::string text() const;
  const nlohmann::json& to_json() const { return data; }
};

// Runs the engine over the rows in batches of engine.options().max_batch and measures. With
// `charge_reference` (free decoding only), each request is charged the tokens of its reference
// answer instead of the model's own (fair costs with random weights, which never stop).
EvalReport evaluate(IntentEngine& engine, const Tokenizer& tok, const TaskSpec& spec, const std::vector<EvalRow>& rows,
                    uint64_t model_bytes, bool charge_reference);

}  // namespace si
