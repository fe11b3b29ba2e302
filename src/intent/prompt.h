// intent/prompt.h — the token ids of a prompt and of an answer: ONE definition shared by training
// and inference, so that a cached catalog prefix means the same tokens in both.
//
//   PromptTokens p = encode_prompt(tok, spec, catalog, "Zwei Roggenbrote bitte");
//   // model input: p.prefix (bos + instruction + catalog; cacheable per shop) ++ p.request
//   std::vector<int32_t> target = encode_answer(tok, spec, output);  // canonical answer + eos
//
// The prefix and the request part are tokenized separately and concatenated, so the prefix's ids do
// not depend on the request (no BPE merge across the boundary) and its KV cache can be reused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/task_spec.h"
#include "tokenizer/tokenizer.h"

namespace si {

struct PromptTokens {
  std::vector<int32_t> prefix;   // bos (when the tokenizer has one) + rendered prefix
  std::vector<int32_t> request;  // rendered request part; the answer follows it directly
};

PromptTokens encode_prompt(const Tokenizer& tok, const TaskSpec& spec, const std::vector<std::string>& catalog,
                           const std::string& request);
// Its two halves (the engine keeps a catalog's prefix: intent/catalog_cache.h).
std::vector<int32_t> encode_prompt_prefix(const Tokenizer& tok, const TaskSpec& spec,
                                          const std::vector<std::string>& catalog);
std::vector<int32_t> encode_prompt_request(const Tokenizer& tok, const TaskSpec& spec, const std::string& request);

// The canonical answer text's ids followed by the end-of-text id.
std::vector<int32_t> encode_answer(const Tokenizer& tok, const TaskSpec& spec, const nlohmann::json& output);

}  // namespace si
