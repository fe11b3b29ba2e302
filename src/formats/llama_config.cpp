// LlamaConfig from / to Hugging Face config.json and from GGUF `llama.*` keys, and presets.
#include "formats/llama_config.h"

#include <cmath>
#include <cstdlib>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap.h"
#include "formats/gguf.h"

namespace si {
namespace {

using json = nlohmann::json;

// A float as the shortest decimal that reads back to it, as a double: 1e-5f -> 1e-05, not
// 9.999999747378752e-06 (what transformers writes for its python floats).
double tidy(float f) { return std::strtod(fmt::format("{}", f).c_str(), nullptr); }

int need_int(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw Error(fmt::format("config is missing required key \"{}\"", key)).at(where);
  const json& v = j[key];
  if (!v.is_number_integer()) throw Error(fmt::format("config key \"{}\" is {}, expected an integer", key, v.dump())).at(where);
  const int64_t x = v.get<int64_t>();
  if (x < INT32_MIN || x > INT32_MAX) throw Error(fmt::format("config key \"{}\" = {} is out of range", key, x)).at(where);
  return int(x);
}

int opt_int(const json& j, const char* key, int def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  return need_int(j, key, where);
}

float opt_float(const json& j, const char* key, float def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number()) throw Error(fmt::format("config key \"{}\" is {}, expected a number", key, j[key].dump())).at(where);
  return j[key].get<float>();
}

// bos/eos may be an int, null, or a list (Llama 3 instruct: eos [128001, 128008, 128009]): first id.
int token_id(const json& j, const char* key, int def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const json& v = j[key];
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int>();
  if (v.is_number_integer()) return v.get<int>();
  throw Error(fmt::format("config key \"{}\" is {}, expected a token id", key, v.dump())).at(where);
}

}  // namespace

void LlamaConfig::validate(const std::string& where) const {
  auto bad = [&](const std::string& msg) { throw Error("invalid Llama config: " + msg).at(where); };
  if (vocab_size <= 0) bad(fmt::format("vocab_size {} must be positive", vocab_size));
  if (hidden_size <= 0) bad(fmt::format("hidden_size {} must be positive", hidden_size));
  if (intermediate_size <= 0) bad(fmt::format("intermediate_size {} must be positive", intermediate_size));
  if (n_layers <= 0) bad(fmt::format("num_hidden_layers {} must be positive", n_layers));
  if (n_heads <= 0 || n_kv_heads <= 0) bad(fmt::format("head counts {} / {} must be positive", n_heads, n_kv_heads));
  if (n_heads % n_kv_heads != 0) bad(fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}", n_heads, n_kv_heads));
  if (head_dim <= 0 || head_dim % 2 != 0) bad(fmt::format("head_dim {} must be positive and even (RoPE rotates pairs)", head_dim));
  if (max_position_embeddings <= 0) bad(fmt::format("max_position_embeddings {} must be positive", max_position_embeddings));
  if (!(rms_norm_eps > 0.0f) || !std::isfinite(rms_norm_eps)) bad(fmt::format("rms_norm_eps {} must be positive", rms_norm_eps));
  if (!(rope_theta > 0.0f) || !std::isfinite(rope_theta)) bad(fmt::format("rope_theta {} must be positive", rope_theta));
  if (rope_scaling.type != "none" && rope_scaling.type != "llama3")
    bad(fmt::format("rope_scaling type \"{}\" is not supported (none, llama3)", rope_scaling.type));
  if (rope_scaling.type == "llama3") {
    const auto& r = rope_scaling;
    if (!(r.factor > 0.0f)) bad(fmt::format("rope_scaling factor {} must be positive", r.factor));
    if (!(r.high_freq_factor > r.low_freq_factor))
      bad(fmt::format("rope_scaling high_freq_factor {} must exceed low_freq_factor {}", r.high_freq_factor, r.low_freq_factor));
    if (r.original_max_position_embeddings <= 0) bad("rope_scaling original_max_position_embeddings must be positive");
  }
  if (bos_token_id >= vocab_size) bad(fmt::format("bos_token_id {} is outside the vocabulary ({})", bos_token_id, vocab_size));
  if (eos_token_id >= vocab_size) bad(fmt::format("eos_token_id {} is outside the vocabulary ({})", eos_token_id, vocab_size));
}

LlamaConfig llama_config_from_hf_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error("config is not a JSON object").at(where);
  if (j.contains("model_type") && j["model_type"].is_string() && j["model_type"] != "llama")
    throw Error(fmt::format("model_type \"{}\" is not supported; expected \"llama\"", j["model_type"].get<std::string>())).at(where);
  LlamaConfig c;
  c.vocab_size = need_int(j, "vocab_size", where);
  c.hidden_size = need_int(j, "hidden_size", where);
  c.intermediate_size = need_int(j, "intermediate_size", where);
  c.n_layers = need_int(j, "num_hidden_layers", where);
  c.n_heads = need_int(j, "num_attention_heads", where);
  c.n_kv_heads = opt_int(j, "num_key_value_heads", c.n_heads, where);
  c.head_dim = opt_int(j, "head_dim", c.n_heads > 0 ? c.hidden_size / c.n_heads : 0, where);
  c.max_position_embeddings = opt_int(j, "max_position_embeddings", 2048, where);  // LlamaConfig defaults
  c.rms_norm_eps = opt_float(j, "rms_norm_eps", 1e-6f, where);
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  c.bos_token_id = token_id(j, "bos_token_id", 1, where);
  c.eos_token_id = token_id(j, "eos_token_id", 2, where);

  // transformers < 5: rope_theta + rope_scaling; transformers 5: rope_parameters holds both.
  const json none = json::object();
  const json& rp = j.contains("rope_parameters") && j["rope_parameters"].is_object() ? j["rope_parameters"] : none;
  c.rope_theta = opt_float(rp, "rope_theta", opt_float(j, "rope_theta", 10000.0f, where), where);
  const json& rs = j.contains("rope_scaling") && j["rope_scaling"].is_object() ? j["rope_scaling"] : rp;
  std::string type = "none";
  if (rs.contains("rope_type") && rs["rope_type"].is_string()) type = rs["rope_type"];
  else if (rs.contains("type") && rs["type"].is_string()) type = rs["type"];
  if (type == "default") type = "none";
  c.rope_scaling.type = type;
  if (type == "llama3") {
    const std::string w = where + " rope_scaling";
    for (const char* k : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!rs.contains(k)) throw Error(fmt::format("config is missing required key \"rope_scaling.{}\" for llama3 scaling", k)).at(where);
    c.rope_scaling.factor = opt_float(rs, "factor", 1.0f, w);
    c.rope_scaling.low_freq_factor = opt_float(rs, "low_freq_factor", 1.0f, w);
    c.rope_scaling.high_freq_factor = opt_float(rs, "high_freq_factor", 4.0f, w);
    c.rope_scaling.original_max_position_embeddings = need_int(rs, "original_max_position_embeddings", where);
  }
  c.validate(where);
  return c;
}

LlamaConfig llama_config_from_hf_file(const std::string& config_json_path) {
  const std::string text = read_file(config_json_path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("not valid JSON: {}", e.what())).at(config_json_path, e.byte ? e.byte - 1 : 0);
  }
  return llama_config_from_hf_json(j, config_json_path);
}

LlamaConfig llama_config_from_gguf(const GgufFile& g) {
  const std::string arch = g.get_string("general.architecture");
  if (arch != "llama")
    throw Error(fmt::format("general.architecture is \"{}\"; only \"llama\" is supported", arch)).at(g.path());
  auto u32_or = [&](const char* key, uint32_t def) { return g.find(key) ? g.get_u32(key) : def; };
  LlamaConfig c;
  c.hidden_size = int(g.get_u32("llama.embedding_length"));
  c.intermediate_size = int(g.get_u32("llama.feed_forward_length"));
  c.n_layers = int(g.get_u32("llama.block_count"));
  c.n_heads = int(g.get_u32("llama.attention.head_count"));
  c.n_kv_heads = int(u32_or("llama.attention.head_count_kv", uint32_t(c.n_heads)));
  c.head_dim = int(u32_or("llama.attention.key_length", c.n_heads > 0 ? uint32_t(c.hidden_size / c.n_heads) : 0));
  c.max_position_embeddings = int(g.get_u32("llama.context_length"));
  c.rms_norm_eps = g.get_f32("llama.attention.layer_norm_rms_epsilon");
  c.rope_theta = g.find("llama.rope.freq_base") ? g.get_f32("llama.rope.freq_base") : 10000.0f;
  if (g.find("llama.vocab_size")) c.vocab_size = int(g.get_u32("llama.vocab_size"));
  else if (g.find("tokenizer.ggml.tokens")) c.vocab_size = int(g.get_string_array("tokenizer.ggml.tokens").size());
  else if (const auto* t = g.find_tensor("token_embd.weight")) c.vocab_size = int(t->shape[0]);
  c.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  c.bos_token_id = g.find("tokenizer.ggml.bos_token_id") ? int(g.get_u32("tokenizer.ggml.bos_token_id")) : -1;
  c.eos_token_id = g.find("tokenizer.ggml.eos_token_id") ? int(g.get_u32("tokenizer.ggml.eos_token_id")) : -1;

  // llama.cpp keeps llama3 scaling as the per-frequency factor tensor rope_freqs.weight (the
  // converter writes no scaling keys): its largest entry is `factor`. The remaining parameters are
  // Llama 3.x's; we check that they reproduce the tensor, and say so when they do not.
  if (const GgufTensorInfo* rf = g.find_tensor("rope_freqs.weight")) {
    if (rf->dtype != DType::F32 || rf->numel() != c.head_dim / 2)
      throw Error(fmt::format("rope_freqs.weight is {} {}, expected F32 [{}]", dtype_name(rf->dtype), shape_str(rf->shape),
                              c.head_dim / 2)).at(g.path());
    const float* f = g.view(*rf).as<float>();
    RopeScaling r;
    r.type = "llama3";
    r.factor = 0.0f;
    for (int64_t i = 0; i < rf->numel(); ++i) r.factor = std::max(r.factor, f[i]);
    if (g.find("llama.rope.scaling.original_context_length"))
      r.original_max_position_embeddings = int(g.get_u32("llama.rope.scaling.original_context_length"));
    const double lo_wavelen = double(r.original_max_position_embeddings) / r.low_freq_factor;
    const double hi_wavelen = double(r.original_max_position_embeddings) / r.high_freq_factor;
    for (int64_t i = 0; i < rf->numel(); ++i) {
      const double freq = 1.0 / std::pow(double(c.rope_theta), double(2 * i) / c.head_dim);
      const double wavelen = 2.0 * std::numbers::pi / freq;
      double want = 1.0;
      if (wavelen > lo_wavelen) want = r.factor;
      else if (wavelen >= hi_wavelen) {
        const double smooth = (r.original_max_position_embeddings / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        want = 1.0 / ((1.0 - smooth) / r.factor + smooth);
      }
      if (std::fabs(want - f[i]) > 1e-4 * want)
        throw Error(fmt::format("rope_freqs.weight[{}] = {} is not llama3 scaling with factor {}, low/high freq factors 1/4 and "
                                "original context {} (expected {})", i, f[i], r.factor, r.original_max_position_embeddings, want))
            .at(g.path());
    }
    c.rope_scaling = r;
  }
  c.validate(g.path());
  return c;
}

json llama_config_to_hf_json(const LlamaConfig& c) {
  // Keys as transformers' LlamaConfig.to_json_file writes them (sorted by nlohmann, as transformers does).
  json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"bos_token_id", c.bos_token_id},
      {"eos_token_id", c.eos_token_id},
      {"head_dim", c.head_dim},
      {"hidden_act", "silu"},
      {"hidden_size", c.hidden_size},
      {"initializer_range", 0.02},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"mlp_bias", false},
      {"model_type", "llama"},
      {"num_attention_heads", c.n_heads},
      {"num_hidden_layers", c.n_layers},
      {"num_key_value_heads", c.n_kv_heads},
      {"pretraining_tp", 1},
      {"rms_norm_eps", tidy(c.rms_norm_eps)},
      {"rope_theta", tidy(c.rope_theta)},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"torch_dtype", "float32"},
      {"use_cache", true},
      {"vocab_size", c.vocab_size},
  };
  if (c.bos_token_id < 0) j["bos_token_id"] = nullptr;
  if (c.eos_token_id < 0) j["eos_token_id"] = nullptr;
  if (c.rope_scaling.type == "llama3") {
    j["rope_scaling"] = {
        {"factor", tidy(c.rope_scaling.factor)},
        {"high_freq_factor", tidy(c.rope_scaling.high_freq_factor)},
        {"low_freq_factor", tidy(c.rope_scaling.low_freq_factor)},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings},
        {"rope_type", "llama3"},
    };
  } else {
    j["rope_scaling"] = nullptr;
  }
  return j;
}

LlamaConfig llama_config_preset(const std::string& name) {
  LlamaConfig c;
  c.rope_theta = 500000.0f;
  c.rms_norm_eps = 1e-5f;
  c.rope_scaling = RopeScaling{"llama3", 32.0f, 1.0f, 4.0f, 8192};
  c.tie_word_embeddings = true;
  c.head_dim = 64;
  if (name == "llama-3.2-1b") {
    c.vocab_size = 128256; c.hidden_size = 2048; c.intermediate_size = 8192; c.n_layers = 16;
    c.n_heads = 32; c.n_kv_heads = 8; c.max_position_embeddings = 131072;
    c.bos_token_id = 128000; c.eos_token_id = 128001;
  } else if (name == "tiny") {
    c.vocab_size = 2048; c.hidden_size = 256; c.intermediate_size = 768; c.n_layers = 4;
    c.n_heads = 4; c.n_kv_heads = 2; c.max_position_embeddings = 1024;
  } else if (name == "small") {
    c.vocab_size = 4096; c.hidden_size = 512; c.intermediate_size = 1536; c.n_layers = 8;
    c.n_heads = 8; c.n_kv_heads = 4; c.max_position_embeddings = 2048;
  } else {
    fail("unknown model preset \"{}\" (known: tiny, small, llama-3.2-1b)", name);
  }
  if (c.bos_token_id < 0) {
    // Our reduced vocabularies end with <|begin_of_text|>, <|end_of_text|> (like the GGUF fixture).
    c.bos_token_id = c.vocab_size - 2;
    c.eos_token_id = c.vocab_size - 1;
  }
  c.validate("preset " + name);
  return c;
}

}  // namespace si
