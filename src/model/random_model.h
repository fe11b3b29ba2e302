// model/random_model.h — GGUF files and Hugging Face directories of any Llama config with random
// weights (benchmarks, tests).
//
//   si::write_random_gguf(si::llama_config_preset("llama-3.2-1b"), "Q4_K_M", 1, "/tmp/r.gguf", &pool);
//   si::LlamaModel m = si::LlamaModel::load("/tmp/r.gguf");
//   si::write_random_hf(si::llama_config_preset("llama-3.2-1b"), si::DType::BF16, 1, "/tmp/r1b", "tokenizer.json");
//
// `type` is a GGUF type (F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K) or llama.cpp's mixes Q4_K_M / Q5_K_M,
// with llama.cpp's per-tensor choices (tied token_embd as the output matrix: Q6_K for the 4/5-bit
// and Q6_K files; attn_v/ffn_down of the `use_more_bits` layers Q6_K in the _M mixes). Weights are
// uniform with std 0.02 (norms near 1), generated and quantized tensor by tensor while the file is
// written, so memory stays at one tensor. Metadata: llama.* keys and rope_freqs.weight for
// llama3 scaling, as llama.cpp's converter writes them; no tokenizer.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "formats/llama_config.h"

namespace si {

void write_random_gguf(const LlamaConfig& cfg, const std::string& type, uint64_t seed, const std::string& path,
                       ThreadPool* pool = nullptr);

// An HF directory as transformers saves it: config.json, model.safetensors (every tensor of `dtype`:
// F32, F16 or BF16; distributed as in the GGUF files: std 0.02, norms near 1) and, when `tokenizer` names
// a tokenizer.json, a copy of it. Written to a temporary directory renamed at the end; `dir` must
// not exist or be empty.
void write_random_hf(const LlamaConfig& cfg, DType dtype, uint64_t seed, const std::string& dir,
                     const std::string& tokenizer = "");

// The type llama.cpp's quantizer gives tensor `name` (layer `layer`, -1 if none) in a file of `type`.
DType llama_cpp_tensor_type(const std::string& type, const std::string& name, int layer, int n_layers);

}  // namespace si
