#include "intent/prompt.h"

#include "core/error.h"

namespace si {

PromptTokens encode_prompt(const Tokenizer& tok, const TaskSpec& spec, const std::vector<std::string>& catalog,
                           const std::string& request) {
  PromptTokens p;
  if (tok.bos_id() >= 0) p.prefix.push_back(tok.bos_id());
  // parse_special = false: a customer typing "<|end_of_text|>" gets plain text, not a control token.
  tok.encode(render_prompt_prefix(spec, catalog), /*parse_special=*/false, p.prefix);
  tok.encode(render_prompt_request(spec, request), /*parse_special=*/false, p.request);
  return p;
}

std::vector<int32_t> encode_answer(const Tokenizer& tok, const TaskSpec& spec, const nlohmann::json& output) {
  SI_CHECK(tok.eos_id() >= 0, "the tokenizer has no end-of-text token; answers need one to end");
  std::vector<int32_t> ids = tok.encode(canonical_answer(spec, output), /*parse_special=*/false);
  ids.push_back(tok.eos_id());
  return ids;
}

}  // namespace si
