// formats/llama_config.h — hyper-parameters of a Llama-family model (Llama 3.x: GQA, llama3 RoPE
// scaling, tied embeddings), read from a Hugging Face config.json or from GGUF `llama.*` keys.
//
//   si::LlamaConfig c = si::llama_config_from_hf_json("model/config.json");
//   c.validate();            // throws si::Error naming the bad field
//   c.kv_dim();              // n_kv_heads * head_dim
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace si {

class GgufFile;

struct RopeScaling {
  std::string type = "none";  // "none" or "llama3"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  int vocab_size = 0;
  int hidden_size = 0;         // C
  int intermediate_size = 0;   // FFN width
  int n_layers = 0;            // L
  int n_heads = 0;             // query heads
  int n_kv_heads = 0;          // key/value heads (GQA when < n_heads)
  int head_dim = 0;            // hidden_size / n_heads unless set explicitly
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  int bos_token_id = -1;
  int eos_token_id = -1;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  void validate(const std::string& where) const;  // throws si::Error("<where>: ...") on nonsense
};

LlamaConfig llama_config_from_hf_json(const nlohmann::json& j, const std::string& where);
LlamaConfig llama_config_from_hf_file(const std::string& config_json_path);
LlamaConfig llama_config_from_gguf(const GgufFile& gguf);
nlohmann::json llama_config_to_hf_json(const LlamaConfig& c);  // what transformers writes

// Built-in small configurations for our own models ("tiny", "small"), and the real Llama 3.2 1B
// architecture (for random-weight benchmarks): "llama-3.2-1b".
LlamaConfig llama_config_preset(const std::string& name);

}  // namespace si
