// model/llama_weights.h — the tensors of a Llama-family model as views (into a mapped file or an
// arena), validated against the config: names, shapes and types.
//
//   si::LlamaWeights w = si::bind_gguf_weights(gguf, cfg, small);   // small: arena for F32 copies of norms
//   si::ops::matmul(x, w.layers[0].wq, q, pool);
//
// Matrices keep their stored type (F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q5_K/Q6_K) and are never copied.
// 1-D norm weights are copied to F32 in `small` (converted when stored otherwise; a few KiB, see vector()).
// GGUF attn_q/attn_k rows are in the converter's permuted order: `rope_interleaved` says so.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/tensor.h"
#include "formats/llama_config.h"

namespace si {

class GgufFile;
class SafetensorsModel;

struct LlamaLayerWeights {
  TensorView attn_norm;  // (C) f32
  TensorView wq;         // (H*D, C)
  TensorView wk;         // (KVH*D, C)
  TensorView wv;         // (KVH*D, C)
  TensorView wo;         // (C, H*D)
  TensorView ffn_norm;   // (C) f32
  TensorView w_gate;     // (F, C)
  TensorView w_up;       // (F, C)
  TensorView w_down;     // (C, F)
};

struct LlamaWeights {
  TensorView tok_embd;     // (V, C)
  TensorView output_norm;  // (C) f32
  TensorView output;       // (V, C); the same view as tok_embd when tied
  std::vector<LlamaLayerWeights> layers;
  std::vector<float> rope_freq_factors;  // GGUF rope_freqs.weight (D/2), empty otherwise
  bool rope_interleaved = false;         // true for GGUF (permuted Q/K rows)
  uint64_t bytes() const;                // stored bytes of every distinct tensor
};

LlamaWeights bind_gguf_weights(const GgufFile& g, const LlamaConfig& cfg, Arena& small);
LlamaWeights bind_hf_weights(const SafetensorsModel& st, const LlamaConfig& cfg, Arena& small);
// HF tensor names looked up through `find` (a GPTQ directory's dequantized Linears, quant/gptq_checkpoint.h).
using WeightFinder = std::function<const TensorView*(const std::string& name)>;
LlamaWeights bind_hf_weights(const WeightFinder& find, const std::string& where, const LlamaConfig& cfg, Arena& small);

// Matrix types the CPU engine runs.
bool weight_type_supported(DType t);

}  // namespace si
