#include "train/dataset.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap.h"
#include "data/task_spec.h"
#include "intent/prompt.h"
#include "tokenizer/tokenizer.h"

namespace si::train {

std::vector<Example> load_examples(const std::string& jsonl, const Tokenizer& tok, const TaskSpec& spec, int max_len,
                                   DatasetStats* stats) {
  const std::string text = read_file(jsonl);
  std::vector<Example> out;
  DatasetStats st;
  size_t start = 0;
  uint64_t line_no = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    line_no++;
    const std::string_view line = std::string_view(text).substr(start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Example e;
    try {
      const nlohmann::json row = nlohmann::json::parse(line);
      const auto catalog = row.at("catalog").get<std::vector<std::string>>();
      const PromptTokens p = encode_prompt(tok, spec, catalog, row.at("request").get<std::string>());
      e.prompt = p.prefix;
      e.prompt.insert(e.prompt.end(), p.request.begin(), p.request.end());
      e.answer = encode_answer(tok, spec, row.at("output"));
    } catch (const nlohmann::json::exception& ex) {
      throw Error(fmt::format("bad training row: {}", ex.what()))
          .at_line(jsonl, line_no)
          .hint(R"(rows are {"catalog": [...], "request": "...", "output": {...}} as datagen writes them)");
    } catch (const Error& ex) {
      throw Error(fmt::format("bad training row: {}", ex.message())).at_line(jsonl, line_no);
    }
    st.rows++;
    if (max_len > 0 && int64_t(e.size()) > max_len) {
      st.skipped_too_long++;
      continue;
    }
    st.answer_tokens += int64_t(e.answer.size());
    st.max_len = std::max(st.max_len, int64_t(e.size()));
    out.push_back(std::move(e));
  }
  if (stats) *stats = st;
  return out;
}

}  // namespace si::train
