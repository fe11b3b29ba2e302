#include "quant/hf_to_gguf.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"

namespace si {
namespace {

using json = nlohmann::json;

json read_json(const std::string& path, bool required) {
  std::ifstream in(path);
  if (!in) {
    if (required) throw Error("cannot open file").at(path).hint("a Hugging Face model directory needs it");
    return json();
  }
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("invalid JSON at byte {}: {}", e.byte, e.what())).at(path);
  }
}

// The converter's TokenType values.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5 };

bool looks_special(const std::string& t) {
  auto ends = [&](const char* s) { const size_t n = std::strlen(s); return t.size() >= n && t.compare(t.size() - n, n, s) == 0; };
  return t == "<pad>" || t == "<mask>" || t == "<cls>" || t == "<sep>" || (t.rfind("<|", 0) == 0 && ends("|>")) ||
         (t.rfind("<\xEF\xBD\x9C", 0) == 0 && ends("\xEF\xBD\x9C>")) || (t.rfind("<unused", 0) == 0 && ends(">"));
}

void add_tokenizer(GgufWriter& out, const std::string& dir, int vocab_size) {
  const std::string tok_path = dir + "/tokenizer.json";
  const json tok = read_json(tok_path, true);
  SI_CHECK(tok.contains("model") && tok["model"].value("type", "") == "BPE" && tok["model"].contains("vocab"),
           "{}: expected a byte-level BPE tokenizer (model.type \"BPE\" with a vocab), as Llama 3 has", tok_path);
  std::unordered_map<int64_t, std::string> by_id;
  for (const auto& [piece, id] : tok["model"]["vocab"].items()) by_id[id.get<int64_t>()] = piece;
  std::unordered_map<int64_t, bool> added_special;  // id -> special flag
  const json added = tok.value("added_tokens", json::array());
  for (const auto& a : added) {
    const int64_t id = a.at("id").get<int64_t>();
    by_id[id] = a.at("content").get<std::string>();
    added_special[id] = a.value("special", false);
  }
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  tokens.reserve(size_t(vocab_size));
  for (int64_t i = 0; i < vocab_size; ++i) {
    auto it = by_id.find(i);
    if (it == by_id.end()) {
      tokens.push_back(fmt::format("[PAD{}]", i));
      types.push_back(kUnused);
      continue;
    }
    auto ad = added_special.find(i);
    if (ad == added_special.end()) {
      tokens.push_back(it->second);
      types.push_back(kNormal);
    } else if (ad->second || looks_special(it->second)) {
      tokens.push_back(it->second);
      types.push_back(kControl);
    } else {
      std::string t = it->second;
      for (size_t p; (p = t.find("\xE2\x96\x81")) != std::string::npos;) t.replace(p, 3, " ");
      tokens.push_back(t);
      types.push_back(kUserDefined);
    }
  }
  std::vector<std::string> merges;
  for (const auto& m : tok["model"].value("merges", json::array())) {
    if (m.is_string()) merges.push_back(m.get<std::string>());
    else if (m.is_array() && m.size() == 2) merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    else throw Error("merges must be \"a b\" strings or [a, b] pairs").at(tok_path);
  }
  out.set("tokenizer.ggml.model", GgufValue::of("gpt2"));
  // The converter recognises Llama 3's pre-tokenizer by hashing its output; we only convert Llama.
  out.set("tokenizer.ggml.pre", GgufValue::of("llama-bpe"));
  out.set("tokenizer.ggml.tokens", GgufValue::array(tokens));
  out.set("tokenizer.ggml.token_type", GgufValue::array(types));
  if (!merges.empty()) out.set("tokenizer.ggml.merges", GgufValue::array(merges));

  // Special tokens as gguf-py's SpecialVocab finds them: tokenizer_config.json strings looked up in
  // added_tokens, then config.json *_token_id for the rest.
  const json tc = read_json(dir + "/tokenizer_config.json", false);
  const json cfg = read_json(dir + "/config.json", false);
  const char* kTypes[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
  std::map<std::string, bool> add_flags;
  std::vector<std::pair<std::string, uint32_t>> ids;
  auto have = [&](const std::string& typ) {
    for (const auto& p : ids) if (p.first == typ) return true;
    return false;
  };
  if (tc.is_object()) {
    for (const char* typ : kTypes) {
      const std::string t = typ;
      if (auto f = tc.find("add_" + t + "_token"); f != tc.end() && f->is_boolean()) add_flags[t] = f->get<bool>();
      auto e = tc.find(t + "_token");
      if (e == tc.end()) continue;
      std::string content;
      if (e->is_string()) content = e->get<std::string>();
      else if (e->is_object() && e->contains("content") && (*e)["content"].is_string()) content = (*e)["content"];
      else continue;
      for (const auto& a : added)
        if (a.value("content", "") == content) {
          const int64_t id = a.at("id").get<int64_t>();
          if (id >= 0 && id < vocab_size) ids.emplace_back(t, uint32_t(id));
          break;
        }
    }
  }
  if (cfg.is_object())
    for (const char* typ : kTypes) {
      const std::string t = typ;
      auto e = cfg.find(t + "_token_id");
      if (have(t) || e == cfg.end() || !e->is_number_integer()) continue;
      const int64_t id = e->get<int64_t>();
      if (id >= 0 && id < vocab_size) ids.emplace_back(t, uint32_t(id));
    }
  for (const auto& [typ, id] : ids) out.set("tokenizer.ggml." + typ + "_token_id", GgufValue::of(id));
  // gguf-py writes the add_* flags in the order the special types are listed.
  for (const char* typ : kTypes)
    if (auto f = add_flags.find(typ); f != add_flags.end())
      out.set(std::string("tokenizer.ggml.add_") + typ + "_token", GgufValue::of(f->second));
  if (tc.is_object() && tc.contains("chat_template") && tc["chat_template"].is_string())
    out.set("tokenizer.chat_template", GgufValue::of(tc["chat_template"].get<std::string>()));
}

}  // namespace

std::string gguf_name_from_hf(const std::string& hf) {
  static const std::pair<const char*, const char*> kFixed[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  for (const auto& [from, to] : kFixed)
    if (hf == from) return to;
  static const std::pair<const char*, const char*> kLayer[] = {
      {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
      {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},    {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  const std::string prefix = "model.layers.";
  if (hf.rfind(prefix, 0) == 0) {
    const size_t dot = hf.find('.', prefix.size());
    if (dot != std::string::npos && dot > prefix.size()) {
      const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
      const std::string rest = hf.substr(dot + 1);
      bool digits = true;
      for (char c : layer) digits = digits && c >= '0' && c <= '9';
      if (digits)
        for (const auto& [from, to] : kLayer)
          if (rest == from) return "blk." + layer + "." + to;
    }
  }
  fail("tensor '{}' is not part of a Llama model (no GGUF name for it): only LlamaForCausalLM checkpoints convert",
       hf);
}

void hf_permute_qk(const void* in, void* out, int64_t rows, int64_t row_bytes, int n_head) {
  SI_CHECK(n_head > 0 && rows % (2 * n_head) == 0, "cannot permute {} rows into {} heads of pairs", rows, n_head);
  const int64_t hd = rows / n_head, half = hd / 2;
  const auto* src = static_cast<const uint8_t*>(in);
  auto* dst = static_cast<uint8_t*>(out);
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < half; ++j)
      for (int64_t t = 0; t < 2; ++t)
        std::memcpy(dst + (h * hd + 2 * j + t) * row_bytes, src + (h * hd + t * half + j) * row_bytes, size_t(row_bytes));
}

std::vector<float> llama3_rope_factors(const json& config) {
  if (!config.contains("rope_scaling") || !config["rope_scaling"].is_object()) return {};
  const json& rs = config["rope_scaling"];
  std::string type = rs.value("rope_type", std::string());
  for (auto& c : type) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (type != "llama3") return {};
  // torch float32 throughout; python scalars enter float32 ops as float32.
  const float base = float(config.value("rope_theta", 10000.0));
  const int dim = config.contains("head_dim") ? config["head_dim"].get<int>()
                                              : config.at("hidden_size").get<int>() / config.at("num_attention_heads").get<int>();
  const float factor = float(rs.value("factor", 8.0));
  const float low = float(rs.value("low_freq_factor", 1.0));
  const float high = float(rs.value("high_freq_factor", 4.0));
  const int old_ctx = rs.value("original_max_position_embeddings", 8192);
  // The wavelength thresholds are python floats, compared with float32 tensors in float32.
  const float low_wavelen = float(double(old_ctx) / rs.value("low_freq_factor", 1.0));
  const float high_wavelen = float(double(old_ctx) / rs.value("high_freq_factor", 4.0));
  std::vector<float> out;
  for (int i = 0; i < dim; i += 2) {
    const float e = float(i) / float(dim);
    const float freq = 1.0f / std::pow(base, e);
    const float wavelen = float(2 * 3.141592653589793) / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(factor);
    } else {
      const float smooth = (float(old_ctx) / wavelen - low) / (high - low);
      out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return out;
}

std::string gguf_size_label(uint64_t n) {
  double scaled;
  const char* suffix;
  if (double(n) > 1e12) { scaled = double(n) * 1e-12; suffix = "T"; }
  else if (double(n) > 1e9) { scaled = double(n) * 1e-9; suffix = "B"; }
  else if (double(n) > 1e6) { scaled = double(n) * 1e-6; suffix = "M"; }
  else { scaled = double(n) * 1e-3; suffix = "K"; }
  std::string digits = std::to_string(int64_t(std::nearbyint(scaled)));
  digits.erase(0, digits.find_first_not_of('0'));
  const int fix = std::max(2 - int(digits.size()), 0);
  return fmt::format("{:.{}f}{}", scaled, fix, suffix);
}

void add_hf_llama_metadata(GgufWriter& out, const std::string& dir, const json& c, const std::string& name,
                           uint64_t n_params, uint32_t file_type) {
  const std::string where = dir + "/config.json";
  auto u32 = [&](const char* key) {
    SI_CHECK(c.contains(key) && c[key].is_number_integer(), "{}: missing integer '{}'", where, key);
    return c[key].get<uint32_t>();
  };
  out.set("general.architecture", GgufValue::of("llama"));
  out.set("general.type", GgufValue::of("model"));
  out.set("general.name", GgufValue::of(name));
  out.set("general.size_label", GgufValue::of(gguf_size_label(n_params)));
  out.set("llama.block_count", GgufValue::of(u32("num_hidden_layers")));
  if (c.contains("max_position_embeddings")) out.set("llama.context_length", GgufValue::of(u32("max_position_embeddings")));
  out.set("llama.embedding_length", GgufValue::of(u32("hidden_size")));
  out.set("llama.feed_forward_length", GgufValue::of(u32("intermediate_size")));
  out.set("llama.attention.head_count", GgufValue::of(u32("num_attention_heads")));
  if (c.contains("num_key_value_heads"))
    out.set("llama.attention.head_count_kv", GgufValue::of(u32("num_key_value_heads")));
  if (c.contains("rope_theta")) out.set("llama.rope.freq_base", GgufValue::of(float(c["rope_theta"].get<double>())));
  if (c.contains("rms_norm_eps"))
    out.set("llama.attention.layer_norm_rms_epsilon", GgufValue::of(float(c["rms_norm_eps"].get<double>())));
  if (c.contains("head_dim")) {
    out.set("llama.attention.key_length", GgufValue::of(u32("head_dim")));
    out.set("llama.attention.value_length", GgufValue::of(u32("head_dim")));
  }
  out.set("general.file_type", GgufValue::of(file_type));
  const uint32_t vocab = u32("vocab_size");
  out.set("llama.vocab_size", GgufValue::of(vocab));
  const uint32_t rope_dim = c.contains("head_dim") ? u32("head_dim") : u32("hidden_size") / u32("num_attention_heads");
  out.set("llama.rope.dimension_count", GgufValue::of(rope_dim));
  if (c.contains("rope_scaling") && c["rope_scaling"].is_object() && c["rope_scaling"].value("type", "") == "linear" &&
      c["rope_scaling"].contains("factor")) {
    out.set("llama.rope.scaling.type", GgufValue::of("linear"));
    out.set("llama.rope.scaling.factor", GgufValue::of(float(c["rope_scaling"]["factor"].get<double>())));
  }
  add_tokenizer(out, dir, int(vocab));
  out.set("general.quantization_version", GgufValue::of(uint32_t(2)));
}

}  // namespace si
