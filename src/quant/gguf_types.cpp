#include "quant/gguf_types.h"

#include <cctype>
#include <cstdio>

#include "core/error.h"

namespace si {
namespace {

const GgufTarget kTargets[] = {
    {"F32", 0, DType::F32},    {"F16", 1, DType::F16},    {"BF16", 32, DType::BF16},
    {"Q8_0", 7, DType::Q8_0},  {"Q4_0", 2, DType::Q4_0},  {"Q4_K_M", 15, DType::Q4_K},
    {"Q5_K_M", 17, DType::Q5_K}, {"Q6_K", 18, DType::Q6_K},
};

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

}  // namespace

GgufTarget gguf_target_from_name(std::string_view name) {
  if (name.substr(0, 5) == "gguf:") name.remove_prefix(5);
  std::string up(name);
  for (auto& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& t : kTargets)
    if (t.name == up) return t;
  fail("unknown GGUF type '{}': use one of F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K", name);
}

bool gguf_use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

bool gguf_is_quantizable(const std::string& name, const Shape& shape) {
  const bool ends_with_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
  return ends_with_weight && shape.size() >= 2 && !contains(name, "_norm.weight") &&
         !contains(name, "ffn_gate_inp.weight") && name != "position_embd.weight" && name != "token_types.weight";
}

DType gguf_tensor_type(const GgufTarget& target, const std::string& name, const Shape& shape, int n_layers,
                       bool has_output) {
  if (!gguf_is_quantizable(name, shape)) return DType::F32;
  DType t = target.base;
  if (!dtype_is_quantized(t)) return t;  // F32 / F16 / BF16: no mix rules
  const int64_t nx = shape.back();
  const bool q4km = target.name == "Q4_K_M", q5km = target.name == "Q5_K_M";
  if (name == "output.weight" || (!has_output && name == "token_embd.weight")) {
    // Tied embeddings: the token embedding is the output matrix, and gets its type.
    if (nx % 256 != 0) t = DType::Q8_0;
    else if (t != DType::Q8_0) t = DType::Q6_K;
  } else if (contains(name, "attn_v.weight")) {
    if ((q4km || q5km) && gguf_use_more_bits(layer_of(name), n_layers)) t = DType::Q6_K;
  } else if (contains(name, "ffn_down")) {
    if ((q4km || q5km) && gguf_use_more_bits(layer_of(name), n_layers)) t = DType::Q6_K;
  }
  if (nx % dtype_block_size(t) != 0) {
    // llama.cpp's fallbacks for rows that do not split into blocks.
    switch (t) {
      case DType::Q6_K: t = DType::Q8_0; break;
      case DType::Q4_K:
      case DType::Q5_K:
        fail("tensor '{}' has rows of {} elements, not a multiple of 256: llama.cpp would store it as {}, "
             "which shopintent does not support; use Q8_0 or Q6_K",
             name, nx, t == DType::Q4_K ? "Q5_0" : "Q5_1");
      default: break;
    }
    if (nx % dtype_block_size(t) != 0) t = DType::F16;
  }
  return t;
}

}  // namespace si
