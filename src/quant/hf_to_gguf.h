// quant/hf_to_gguf.h — what llama.cpp's convert_hf_to_gguf.py (LlamaModel) does to a Hugging Face
// Llama checkpoint: tensor names, the Q/K row permutation, the llama3 rope_freqs tensor, and the
// metadata keys (hyper-parameters, tokenizer from tokenizer.json) in the converter's order.
//
//   std::string g = si::gguf_name_from_hf("model.layers.3.self_attn.q_proj.weight");  // blk.3.attn_q.weight
//   si::hf_permute_qk(w, out, rows, cols, n_head);           // HF rotate_half -> GGML interleaved pairs
//   std::vector<float> f = si::llama3_rope_factors(cfg_json);  // empty unless rope_type llama3
//   si::add_hf_llama_metadata(writer, dir, name, file_type);  // every KV, converter order
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace si {

class GgufWriter;

// HF tensor name -> llama.cpp name; throws si::Error for a tensor the llama arch does not have.
std::string gguf_name_from_hf(const std::string& hf_name);

// out[h*hd + 2j + t] = in[h*hd + t*hd/2 + j] for each head h of n_head, hd = rows / n_head
// (numpy: w.reshape(n, 2, rows//n//2, cols).swapaxes(1, 2).reshape(rows, cols)). Any element size.
void hf_permute_qk(const void* in, void* out, int64_t rows, int64_t row_bytes, int n_head);

// The llama3 RoPE frequency factors (head_dim / 2 floats) computed in float32 as the converter does
// with torch; empty when config.json has no llama3 rope_scaling.
std::vector<float> llama3_rope_factors(const nlohmann::json& config);

// The converter's size label: 1705216 -> "1.7M", 1235814400 -> "1.2B".
std::string gguf_size_label(uint64_t n_params);

// All metadata of a converted Llama model in convert_hf_to_gguf.py's order: general.*, llama.*
// hyper-parameters (general.file_type among them), tokenizer.ggml.* from tokenizer.json and
// tokenizer_config.json, general.quantization_version. `name` is general.name.
void add_hf_llama_metadata(GgufWriter& out, const std::string& dir, const nlohmann::json& config,
                           const std::string& name, uint64_t n_params, uint32_t file_type);

}  // namespace si
