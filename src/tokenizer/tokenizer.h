// tokenizer/tokenizer.h — byte-level BPE, exactly as Hugging Face tokenizers runs Llama 3's.
//
//   si::Tokenizer tok = si::Tokenizer::load("model_dir");          // tokenizer.json, dir or .gguf
//   std::vector<int32_t> ids = tok.encode("2x Äpfel bitte", /*parse_special=*/false);
//   ids.insert(ids.begin(), tok.bos_id());                          // callers add bos themselves
//   std::string text = tok.decode(ids);                             // byte-exact round trip
//   const std::string& raw = tok.token_bytes(ids[1]);               // the bytes a token stands for
//
// Pipeline: added tokens are cut out first (leftmost-longest; special ones only when
// parse_special), the rest is split by the Llama 3 pre-tokenizer (tokenizer/pretokenize.h), and
// each piece becomes ids: the whole piece when it is in the vocabulary and `ignore_merges` is set,
// else byte symbols merged by rank (lowest rank first, leftmost first), as HF's BPE model does.
// Pieces are cached per thread, so repeated words cost one hash lookup.
//
// Tokens are kept as raw bytes inside; `piece(id)` gives the stored form (ByteLevel alphabet,
// "Ġhello") and `spec()` the whole vocabulary + merges, e.g. to write GGUF tokenizer metadata.
// Added tokens' lstrip/rstrip/single_word flags are not supported (Llama 3 sets none).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace si {

class GgufFile;

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,      // special added token (<|begin_of_text|>): cut out only with parse_special
  UserDefined = 4,  // non-special added token: always cut out
  Unused = 5,
  Byte = 6,
};

// Everything a tokenizer is made of, in the form files store it.
struct TokenizerSpec {
  std::vector<std::string> pieces;  // id -> token: ByteLevel alphabet for BPE tokens, plain text for added ones
  std::vector<TokenType> types;     // id -> type
  std::vector<std::pair<std::string, std::string>> merges;  // rank order, as pieces
  bool ignore_merges = false;       // whole pieces found in the vocabulary skip the merges
  int32_t bos_id = -1;              // -1 when the model has none
  int32_t eos_id = -1;
};

class Tokenizer {
 public:
  // A tokenizer.json, or a directory holding one (bos/eos then come from tokenizer_config.json
  // beside it when present, else <|begin_of_text|> / <|end_of_text|>). Throws si::Error naming
  // the file and what is wrong or unsupported.
  static Tokenizer from_hf_json(const std::string& path);
  // tokenizer.ggml.* metadata (model gpt2, pre llama-bpe).
  static Tokenizer from_gguf(const GgufFile& gguf);
  // A .gguf file, a tokenizer.json, or a directory holding a tokenizer.json.
  static Tokenizer load(const std::string& path);
  // `origin` names the source in error messages.
  static Tokenizer from_spec(TokenizerSpec spec, const std::string& origin);

  // Appends the ids of `text` to `out` (no bos/eos). Any byte string works; for valid UTF-8 the
  // ids equal Hugging Face's `encode(text, add_special_tokens=False)` (parse_special = true) or
  // with `encode_special_tokens = True` (parse_special = false).
  void encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
  std::vector<int32_t> encode(std::string_view text, bool parse_special) const;

  // Concatenated token bytes; added tokens give their text. Throws on an id out of range.
  std::string decode(std::span<const int32_t> ids) const;
  const std::string& token_bytes(int32_t id) const;
  const std::string& piece(int32_t id) const;  // the stored form ("Ġhello", "<|end_of_text|>")
  TokenType token_type(int32_t id) const;

  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t token_id(std::string_view piece) const;  // by stored form; -1 when absent
  const TokenizerSpec& spec() const;

  // Empties the calling thread's piece cache (benchmarks measure cold encoding with it).
  static void clear_thread_cache();

  // Writes an HF tokenizer.json (Llama 3 pre-tokenizer, ByteLevel, BPE) atomically.
  void save_hf_json(const std::string& path) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // immutable: copies share it, threads may encode at once
};

}  // namespace si
