// Tokenizer from GGUF tokenizer.ggml.* metadata, as llama.cpp's converter writes it for Llama 3.
#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

namespace si {

Tokenizer Tokenizer::from_gguf(const GgufFile& gguf) {
  const std::string& path = gguf.path();
  const std::string model = gguf.get_string("tokenizer.ggml.model");
  if (model != "gpt2")
    throw Error(fmt::format("unsupported tokenizer.ggml.model '{}': only 'gpt2' (byte-level BPE) is implemented", model))
        .at(path);
  const GgufValue* pre = gguf.find("tokenizer.ggml.pre");
  const std::string pre_name = pre && pre->get_if<std::string>() ? *pre->get_if<std::string>() : "(missing)";
  if (pre_name != "llama-bpe")
    throw Error(fmt::format("unsupported tokenizer.ggml.pre '{}': only 'llama-bpe' (Llama 3) is implemented", pre_name))
        .at(path);

  TokenizerSpec spec;
  spec.pieces = gguf.get_string_array("tokenizer.ggml.tokens");
  const size_t n = spec.pieces.size();
  spec.types.assign(n, TokenType::Normal);
  if (gguf.find("tokenizer.ggml.token_type")) {
    const std::vector<int32_t> types = gguf.get_i32_array("tokenizer.ggml.token_type");
    if (types.size() != n)
      throw Error(fmt::format("tokenizer.ggml.token_type has {} entries for {} tokens", types.size(), n)).at(path);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 1 || types[i] > 6)
        throw Error(fmt::format("tokenizer.ggml.token_type[{}] = {} is not a llama.cpp token type (1..6)", i, types[i]))
            .at(path);
      spec.types[i] = types[i] == int32_t(TokenType::Byte) ? TokenType::Normal : TokenType(types[i]);
    }
  }
  const std::vector<std::string>& merges = gguf.get_string_array("tokenizer.ggml.merges");
  spec.merges.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const std::string& m = merges[r];
    const size_t sp = m.find(' ', 1);  // llama.cpp splits at the first space after the first byte
    if (sp == std::string::npos)
      throw Error(fmt::format("tokenizer.ggml.merges[{}] '{}' is not two tokens separated by a space", r, m)).at(path);
    spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  spec.ignore_merges = true;  // llama.cpp sets it for llama-bpe, as Llama 3's tokenizer.json does
  auto optional_id = [&](const char* key) -> int32_t {
    if (!gguf.find(key)) return -1;
    const int64_t id = gguf.get_i64(key);
    if (id < 0 || id >= int64_t(n)) throw Error(fmt::format("{} = {} is out of range for {} tokens", key, id, n)).at(path);
    return int32_t(id);
  };
  spec.bos_id = optional_id("tokenizer.ggml.bos_token_id");
  spec.eos_id = optional_id("tokenizer.ggml.eos_token_id");
  return from_spec(std::move(spec), path);
}

}  // namespace si
