// Hugging Face tokenizer.json: reading (Llama 3 layout) and writing.
#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mmap.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace si {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw Error(what).at(path).hint("expected a Hugging Face tokenizer.json of a Llama 3 style byte-level BPE");
}

const json& need(const json& obj, const char* key, const std::string& path, const char* where) {
  auto it = obj.find(key);
  if (it == obj.end()) bad(path, fmt::format("missing key '{}' in {}", key, where));
  return *it;
}

bool is_null_or(const json& obj, const char* key, const json& value) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() || *it == value;
}

void check_pre_tokenizer(const json& pre, const std::string& path) {
  // Llama 3: Sequence [Split(regex, Isolated), ByteLevel(add_prefix_space=false, use_regex=false)]
  const char* unsupported = "unsupported pre_tokenizer: only Llama 3's (Split with its regex + ByteLevel) is implemented";
  if (!pre.is_object() || pre.value("type", "") != "Sequence") bad(path, unsupported);
  const json& seq = need(pre, "pretokenizers", path, "pre_tokenizer");
  if (!seq.is_array() || seq.size() != 2) bad(path, unsupported);
  const json& split = seq[0];
  const json& byte_level = seq[1];
  if (split.value("type", "") != "Split" || byte_level.value("type", "") != "ByteLevel") bad(path, unsupported);
  const json* pattern = split.contains("pattern") ? &split["pattern"] : nullptr;
  if (!pattern || !pattern->contains("Regex") || !(*pattern)["Regex"].is_string() ||
      (*pattern)["Regex"].get<std::string>() != kLlama3SplitRegex)
    bad(path, "unsupported pre_tokenizer Split pattern: only Llama 3's regex is implemented");
  if (split.value("behavior", "") != "Isolated" || split.value("invert", false))
    bad(path, "unsupported pre_tokenizer Split behavior: only Isolated, invert false");
  if (byte_level.value("add_prefix_space", false) || byte_level.value("use_regex", false))
    bad(path, "unsupported ByteLevel pre_tokenizer options: add_prefix_space and use_regex must be false");
}

std::string special_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

Tokenizer parse(const std::string& path, const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("invalid JSON: {}", e.what())).at(path, e.byte);
  }
  if (!doc.is_object()) bad(path, "top level is not a JSON object");
  try {
    const json& model = need(doc, "model", path, "the file");
    if (!model.is_object() || model.value("type", "BPE") != "BPE")
      bad(path, fmt::format("unsupported model type '{}': only BPE is implemented",
                            model.is_object() ? model.value("type", "?") : "?"));
    if (!is_null_or(doc, "normalizer", nullptr)) bad(path, "unsupported normalizer: Llama 3 has none (null)");
    check_pre_tokenizer(need(doc, "pre_tokenizer", path, "the file"), path);
    if (!is_null_or(model, "dropout", nullptr)) bad(path, "BPE dropout is not supported (encoding would be random)");
    if (!is_null_or(model, "continuing_subword_prefix", nullptr) || !is_null_or(model, "end_of_word_suffix", nullptr))
      bad(path, "BPE continuing_subword_prefix / end_of_word_suffix are not supported");

    TokenizerSpec spec;
    spec.ignore_merges = model.value("ignore_merges", false);
    const json& vocab = need(model, "vocab", path, "model");
    if (!vocab.is_object()) bad(path, "model.vocab is not an object");
    const json empty_array = json::array();
    const json& added = doc.contains("added_tokens") && doc["added_tokens"].is_array() ? doc["added_tokens"] : empty_array;
    int64_t max_id = -1;
    for (const auto& [piece, id] : vocab.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t(1) << 30))
        bad(path, fmt::format("model.vocab['{}'] is not a valid token id", piece));
      max_id = std::max(max_id, id.get<int64_t>());
    }
    for (const json& a : added) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string() || a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() >= (int64_t(1) << 30))
        bad(path, "an entry of added_tokens lacks a valid 'id' or 'content'");
      max_id = std::max(max_id, a["id"].get<int64_t>());
    }
    if (max_id < 0) bad(path, "the vocabulary is empty");
    spec.pieces.assign(size_t(max_id + 1), std::string());
    spec.types.assign(size_t(max_id + 1), TokenType::Unused);
    for (const auto& [piece, id] : vocab.items()) {
      spec.pieces[size_t(id.get<int64_t>())] = piece;
      spec.types[size_t(id.get<int64_t>())] = TokenType::Normal;
    }
    for (const json& a : added) {
      const auto id = size_t(a["id"].get<int64_t>());
      spec.pieces[id] = a["content"].get<std::string>();
      spec.types[id] = a.value("special", false) ? TokenType::Control : TokenType::UserDefined;
    }
    const json& merges = need(model, "merges", path, "model");
    if (!merges.is_array()) bad(path, "model.merges is not an array");
    spec.merges.reserve(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
      const json& m = merges[r];
      if (m.is_string()) {  // "a b"
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          bad(path, fmt::format("model.merges[{}] '{}' is not two tokens separated by one space", r, s));
        spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["a", "b"]
        spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        bad(path, fmt::format("model.merges[{}] is neither \"a b\" nor [\"a\", \"b\"]", r));
      }
    }

    // bos/eos: tokenizer_config.json beside the file names them; Llama 3's names otherwise.
    std::string bos = "<|begin_of_text|>", eos = "<|end_of_text|>";
    const fs::path config = fs::path(path).parent_path() / "tokenizer_config.json";
    if (fs::exists(config)) {
      json cfg;
      try {
        cfg = json::parse(read_file(config.string()));
      } catch (const json::parse_error& e) {
        throw Error(fmt::format("invalid JSON: {}", e.what())).at(config.string(), e.byte);
      }
      if (cfg.is_object() && cfg.contains("bos_token")) bos = special_content(cfg["bos_token"]);
      if (cfg.is_object() && cfg.contains("eos_token")) eos = special_content(cfg["eos_token"]);
    }
    for (size_t id = 0; id < spec.pieces.size(); ++id) {
      if (spec.bos_id < 0 && !bos.empty() && spec.pieces[id] == bos) spec.bos_id = int32_t(id);
      if (spec.eos_id < 0 && !eos.empty() && spec.pieces[id] == eos) spec.eos_id = int32_t(id);
    }
    return Tokenizer::from_spec(std::move(spec), path);
  } catch (const json::exception& e) {
    bad(path, fmt::format("unexpected structure: {}", e.what()));
  }
}

}  // namespace

Tokenizer Tokenizer::from_hf_json(const std::string& path) {
  std::string file = path;
  if (fs::is_directory(path)) {
    file = (fs::path(path) / "tokenizer.json").string();
    if (!fs::exists(file))
      throw Error("no tokenizer.json in this directory").at(path).hint("pass a model directory holding a tokenizer.json");
  }
  return parse(file, read_file(file));
}

void Tokenizer::save_hf_json(const std::string& path) const {
  using ojson = nlohmann::ordered_json;
  const TokenizerSpec& s = spec();
  ojson added = ojson::array();
  ojson vocab = ojson::object();
  for (size_t id = 0; id < s.pieces.size(); ++id) {
    const TokenType t = s.types[id];
    if (t == TokenType::Control || t == TokenType::UserDefined) {
      added.push_back({{"id", id}, {"content", s.pieces[id]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", t == TokenType::Control}});
    } else if (!(t == TokenType::Unused && s.pieces[id].empty())) {
      vocab[s.pieces[id]] = id;
    }
  }
  ojson merges = ojson::array();
  for (const auto& [a, b] : s.merges) merges.push_back(a + " " + b);
  ojson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}};
  ojson doc = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         ojson::array({{{"type", "Split"},
                        {"pattern", {{"Regex", std::string(kLlama3SplitRegex)}}},
                        {"behavior", "Isolated"},
                        {"invert", false}},
                       byte_level})}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", s.ignore_merges},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  write_file_atomic(path, doc.dump(2) + "\n");
}

}  // namespace si
