#include "intent/prompt.h"

#include "core/error.h"

namespace si {

std::vector<int32_t> encode_prompt_prefix(const Tokenizer& tok, const TaskSpec& spec,
                                          const std::vector<std::string>& catalog) {
  std::vector<int32_t> ids;
  if (tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  // parse_special = false: a customer typing "<|end_of_text|>" gets plain text, not a control token.
  tok.encode(render_prompt_prefix(spec, catalog), /*parse_special=*/false, ids);
  return ids;
}

std::vector<int32_t> encode_prompt_request(const Tokenizer& tok, const TaskSpec& spec, const std::string& request) {
  std::vector<int32_t> ids;
  tok.encode(render_prompt_request(spec, request), /*parse_special=*/false, ids);
  return ids;
}

PromptTokens encode_prompt(const Tokenizer& tok, const TaskSpec& spec, const std::vector<std::string>& catalog,
                           const std::string& request) {
  return {encode_prompt_prefix(tok, spec, catalog), encode_prompt_request(tok, spec, request)};
}

std::vector<int32_t> encode_answer(const Tokenizer& tok, const TaskSpec& spec, const nlohmann::json& output) {
  SI_CHECK(tok.eos_id() >= 0, "the tokenizer has no end-of-text token; answers need one to end");
  std::vector<int32_t> ids = tok.encode(canonical_answer(spec, output), /*parse_special=*/false);
  ids.push_back(tok.eos_id());
  return ids;
}

}  // namespace si
