// quant/gguf_types.h — which GGUF file types we write and, per tensor, which block type llama.cpp's
// llama-quantize (commit c392e50, llama_tensor_get_type, no importance matrix) would choose.
//
//   si::GgufTarget t = si::gguf_target_from_name("Q4_K_M");          // file_type 15, base Q4_K
//   si::DType d = si::gguf_tensor_type(t, "blk.1.attn_v.weight", {128, 256}, 16, false);  // Q6_K
//
// Rules implemented (llama arch, dense): 1-D tensors and norms stay F32; the output matrix (or the
// token embedding when tied, i.e. no output.weight) gets Q6_K unless the base is Q8_0 or F16/BF16
// (Q8_0 when its rows are not a multiple of 256); Q4_K_M / Q5_K_M give attn_v and ffn_down of the
// "use_more_bits" layers Q6_K; a row length not divisible by the block size falls back like
// llama.cpp (Q6_K -> Q8_0, then F16; Q4_K -> Q5_0 and Q5_K -> Q5_1 are refused: we have no
// Q5_0/Q5_1 kernels).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "core/tensor.h"

namespace si {

struct GgufTarget {
  std::string name;        // "Q4_K_M", as llama-quantize spells it
  uint32_t file_type = 0;  // general.file_type (llama_ftype)
  DType base = DType::F32; // default block type of the 2-D weights
};

// "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K" (any case; a "gguf:" prefix is
// accepted). Throws si::Error listing the valid names.
GgufTarget gguf_target_from_name(std::string_view name);

// llama.cpp's use_more_bits(i_layer, n_layers): the layers Q4_K_M / Q5_K_M give more bits.
bool gguf_use_more_bits(int i_layer, int n_layers);

// Whether llama-quantize quantizes this tensor at all (2-D "*weight", not a norm, ...).
bool gguf_is_quantizable(const std::string& name, const Shape& shape);

// The stored type of tensor `name` (Shape outermost first, so shape.back() is the row length) in a
// `target` file of a model with `n_layers` layers; `has_output` = the model has output.weight.
DType gguf_tensor_type(const GgufTarget& target, const std::string& name, const Shape& shape, int n_layers,
                       bool has_output);

}  // namespace si
