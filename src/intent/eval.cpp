#include "intent/eval.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "core/progress.h"
#include "core/system.h"
#include "data/validate.h"
#include "intent/prompt.h"

namespace si {

using nlohmann::json;

std::vector<EvalRow> read_eval_rows(const std::string& path, const TaskSpec& spec, int64_t limit) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open the data file").at(path).hint("give a JSONL file of rows (see docs/data.md)");
  std::vector<EvalRow> rows;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line) && (limit <= 0 || int64_t(rows.size()) < limit)) {
    ++line_no;
    if (line.empty()) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      throw Error(fmt::format("not a JSON object: {}", e.what())).at_line(path, uint64_t(line_no));
    }
    const std::vector<std::string> problems = validate_row(spec, j);
    if (!problems.empty()) throw Error(problems.front()).at_line(path, uint64_t(line_no)).hint("check it with `shopintent data validate`");
    EvalRow r;
    r.id = j.value("id", fmt::format("line-{}", line_no));
    r.lang = j.value("lang", "");
    if (j.contains("catalog")) r.catalog = j["catalog"].get<std::vector<std::string>>();
    r.request = j["request"].get<std::string>();
    r.output = j["output"];
    rows.push_back(std::move(r));
  }
  SI_CHECK(!rows.empty(), "{}: no rows to evaluate", path);
  return rows;
}

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

// The label a row is grouped by: its "intent" (or, for list answers, the intents joined by '+',
// "none" for an empty list).
std::string intent_label(const TaskSpec& spec, const json& output) {
  if (const Field* list = spec.list_field()) {
    const json& items = output.at(list->name);
    if (items.empty()) return "none";
    std::string s;
    for (const auto& it : items) s += (s.empty() ? "" : "+") + it.value("intent", std::string("?"));
    return s;
  }
  return output.contains("intent") ? output["intent"].get<std::string>() : std::string("-");
}

struct Tally {
  int64_t n = 0, ok = 0;
  void add(bool hit) { ++n; ok += hit ? 1 : 0; }
  double rate() const { return n ? double(ok) / double(n) : 0.0; }
};

}  // namespace

EvalReport evaluate(IntentEngine& engine, const Tokenizer& tok, const TaskSpec& spec, const std::vector<EvalRow>& rows,
                    uint64_t model_bytes, bool charge_reference) {
  const int batch = engine.options().max_batch;
  std::vector<IntentRequest> reqs(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    reqs[i].catalog = rows[i].catalog;
    reqs[i].text = rows[i].request;
    if (charge_reference) reqs[i].charge_answer = encode_answer(tok, spec, rows[i].output);
  }
  std::vector<IntentResult> results;
  std::vector<double> latency_ms;
  Progress progress("eval", int64_t(rows.size()), "requests");
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < reqs.size(); i += size_t(batch)) {
    const size_t n = std::min(reqs.size() - i, size_t(batch));
    const auto b0 = std::chrono::steady_clock::now();
    auto out = engine.run(std::span<const IntentRequest>(reqs).subspan(i, n));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - b0).count();
    for (auto& r : out) {
      results.push_back(std::move(r));
      latency_ms.push_back(ms);
    }
    progress.advance(int64_t(n));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish();

  Tally exact, invalid;
  std::map<std::string, Tally> by_field, by_lang, by_intent;
  std::map<std::string, std::map<std::string, int64_t>> confusion;  // reference -> predicted -> count
  int64_t prompt_tokens = 0, cached_tokens = 0, answer_tokens = 0, choices = 0, failed = 0;
  std::string first_error;
  for (size_t i = 0; i < rows.size(); ++i) {
    const IntentResult& r = results[i];
    const json& ref = rows[i].output;
    const bool valid = r.output.has_value();
    const bool hit = valid && *r.output == ref;
    exact.add(hit);
    invalid.add(!valid);
    by_lang[rows[i].lang].add(hit);
    const std::string ref_label = intent_label(spec, ref);
    by_intent[ref_label].add(hit);
    confusion[ref_label][valid ? intent_label(spec, *r.output) : std::string("(invalid)")]++;
    for (const Field& f : spec.fields) by_field[f.name].add(valid && r.output->contains(f.name) && (*r.output)[f.name] == ref[f.name]);
    if (!valid && first_error.empty()) first_error = r.error;
    failed += valid ? 0 : 1;
    prompt_tokens += r.prompt_tokens;
    cached_tokens += r.cached_tokens;
    answer_tokens += r.answer_tokens;
    choices += r.choices;
  }
  json j;
  j["n"] = rows.size();
  j["exact_match"] = exact.rate();
  j["invalid_rate"] = invalid.rate();
  j["errors"] = {{"count", failed}, {"first", first_error}};
  for (const auto& [k, t] : by_field) j["field_accuracy"][k] = t.rate();
  for (const auto& [k, t] : by_lang) j["by_lang"][k.empty() ? "?" : k] = t.rate();
  for (const auto& [k, t] : by_intent) j["by_intent"][k] = {{"n", t.n}, {"exact_match", t.rate()}};
  j["confusion"] = confusion;
  j["requests_per_s"] = double(rows.size()) / seconds;
  j["tokens_per_s"] = double(prompt_tokens - cached_tokens + answer_tokens) / seconds;
  j["latency_ms"] = {{"p50", percentile(latency_ms, 50)}, {"p95", percentile(latency_ms, 95)}, {"p99", percentile(latency_ms, 99)}};
  j["seconds"] = seconds;
  j["batch"] = batch;
  j["decode"] = engine.options().mode == DecodeMode::Constrained ? "constrained" : "free";
  j["prefix_cache"] = engine.options().use_cache;
  j["tokens"] = {{"prompt", prompt_tokens}, {"cached", cached_tokens}, {"answer", answer_tokens}, {"model_choices", choices}};
  j["peak_rss_bytes"] = peak_rss_bytes();
  j["model_bytes"] = model_bytes;
  return EvalReport{std::move(j)};
}

std::string EvalReport::text() const {
  const json& j = data;
  std::string s;
  s += fmt::format("requests        {}\n", j["n"].get<int64_t>());
  s += fmt::format("exact match     {:.2f}%\n", 100.0 * j["exact_match"].get<double>());
  s += fmt::format("invalid outputs {:.2f}%\n", 100.0 * j["invalid_rate"].get<double>());
  if (j["errors"]["count"].get<int64_t>() > 0)
    s += fmt::format("  first error: {}\n", j["errors"]["first"].get<std::string>());
  for (const auto& [k, v] : j["field_accuracy"].items()) s += fmt::format("  field {:<12} {:.2f}%\n", k, 100.0 * v.get<double>());
  for (const auto& [k, v] : j["by_lang"].items()) s += fmt::format("  lang  {:<12} {:.2f}%\n", k, 100.0 * v.get<double>());
  for (const auto& [k, v] : j["by_intent"].items())
    s += fmt::format("  intent {:<11} {:.2f}% of {}\n", k, 100.0 * v["exact_match"].get<double>(), v["n"].get<int64_t>());
  s += "confusion (reference -> predicted: count)\n";
  for (const auto& [ref, row] : j["confusion"].items())
    for (const auto& [pred, n] : row.items()) s += fmt::format("  {:<14} -> {:<14} {}\n", ref, pred, n.get<int64_t>());
  s += fmt::format("requests/s      {:.2f}  (batch {}, {} decoding, prefix cache {})\n", j["requests_per_s"].get<double>(),
                   j["batch"].get<int>(), j["decode"].get<std::string>(), j["prefix_cache"].get<bool>() ? "on" : "off");
  s += fmt::format("tokens/s        {:.1f}\n", j["tokens_per_s"].get<double>());
  s += fmt::format("latency ms      p50 {:.1f}  p95 {:.1f}  p99 {:.1f}\n", j["latency_ms"]["p50"].get<double>(),
                   j["latency_ms"]["p95"].get<double>(), j["latency_ms"]["p99"].get<double>());
  s += fmt::format("peak RSS        {:.1f} MiB\nmodel bytes     {:.1f} MiB\n", j["peak_rss_bytes"].get<double>() / 1048576.0,
                   j["model_bytes"].get<double>() / 1048576.0);
  return s;
}

}  // namespace si
