// quant/gptq_pack.h — one GPTQ-quantized Linear in the AutoGPTQ / transformers / vLLM checkpoint layout:
// packing the integer codes into int32 words, unpacking them, and dequantizing to a dense weight.
//
//   si::GptqLayout l{.bits = 4, .group_size = 128, .in = 2048, .out = 512};
//   si::GptqUnpacked u = ...;                            // codes (out, in), zeros + scales (G, out), g_idx (in)
//   si::GptqPacked p = si::gptq_pack(u, si::GptqFormat::v1);
//   std::vector<float> w(l.out * l.in);
//   si::gptq_dequantize(p.view(), si::GptqFormat::v1, 0, l.out, w.data());   // w (out, in) = W of nn.Linear
//
// Layout (docs/formats.md has the field-by-field description and the sources it was checked against):
//   qweight int32 (in * bits / 32, out): word (r, o) holds codes of inputs r*P .. r*P+P-1 (P = 32 / bits)
//           of output o, input r*P + j in bits [j*bits, (j+1)*bits) — packed along the INPUT dimension;
//   qzeros  int32 (G, out * bits / 32): word (g, c) holds the zero points of outputs c*P .. c*P+P-1,
//           packed along the OUTPUT dimension, the same bit order;
//   scales  fp16  (G, out);
//   g_idx   int32 (in): the group of each input (i / group_size, or any permutation-derived map with act-order);
//   W[o][i] = scales[g][o] * (q[o][i] - zero[g][o]),  g = g_idx[i].
// GptqFormat::v1 ("gptq", AutoGPTQ's format) stores zero - 1 in qzeros (readers add 1 back); v2
// ("gptq_v2", GPTQModel) stores the zero point itself. G = ceil(in / group_size), or 1 per-channel (-1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace si {

enum class GptqFormat { v1, v2 };
// "gptq" -> v1, "gptq_v2" -> v2; throws si::Error for other spellings.
GptqFormat gptq_format_from_name(const std::string& name);
const char* gptq_format_name(GptqFormat f);

struct GptqLayout {
  int bits = 4;            // 4 or 8
  int group_size = 128;    // inputs per group; -1 = one group per output row (per-channel)
  int64_t in = 0;          // in_features
  int64_t out = 0;         // out_features

  int per_word() const { return 32 / bits; }  // codes in one int32
  int64_t n_groups() const { return group_size < 0 ? 1 : (in + group_size - 1) / group_size; }
  int64_t group_of(int64_t i) const { return group_size < 0 ? 0 : i / group_size; }  // without act-order
  Shape qweight_shape() const { return {in / per_word(), out}; }
  Shape qzeros_shape() const { return {n_groups(), out / per_word()}; }
  Shape scales_shape() const { return {n_groups(), out}; }
  Shape g_idx_shape() const { return {in}; }
  // Throws si::Error "<what>: ..." when bits is not 4/8, group_size not -1 or > 0, or in/out are not
  // multiples of per_word().
  void validate(const std::string& what) const;
};

// Codes and parameters before packing. zero is the real zero point (0 .. 2^bits - 1 for codes made by
// the quantizer); v1 packing requires zero >= 1 (stored zero - 1 must not be negative).
struct GptqUnpacked {
  GptqLayout layout;
  std::vector<uint8_t> q;        // (out, in) codes 0 .. 2^bits - 1
  std::vector<int32_t> zero;     // (G, out)
  std::vector<uint16_t> scale;   // (G, out) fp16 bits
  std::vector<int32_t> g_idx;    // (in) group of each input, 0 .. G - 1
};

// Read-only view of packed tensors (owned by a GptqPacked or a mapped safetensors file).
struct GptqView {
  GptqLayout layout;
  const int32_t* qweight = nullptr;  // (in / P, out)
  const int32_t* qzeros = nullptr;   // (G, out / P)
  const uint16_t* scales = nullptr;  // (G, out) fp16 bits
  const int32_t* g_idx = nullptr;    // (in)
};

struct GptqPacked {
  GptqLayout layout;
  std::vector<int32_t> qweight, qzeros, g_idx;
  std::vector<uint16_t> scales;
  GptqView view() const { return {layout, qweight.data(), qzeros.data(), scales.data(), g_idx.data()}; }
  uint64_t bytes() const { return 4 * (qweight.size() + qzeros.size() + g_idx.size()) + 2 * scales.size(); }
};

GptqPacked gptq_pack(const GptqUnpacked& u, GptqFormat format);
GptqUnpacked gptq_unpack(const GptqView& p, GptqFormat format);

// Rows [row_begin, row_end) of the dense weight W (out, in): w[(o - row_begin) * in + i] (fp32).
// g_idx values must lie in [0, G): check them first with gptq_check_g_idx (the loader does).
void gptq_dequantize(const GptqView& p, GptqFormat format, int64_t row_begin, int64_t row_end, float* w);
// The same rounded to fp16 (bits), for weights kept as F16 after loading.
void gptq_dequantize_f16(const GptqView& p, GptqFormat format, int64_t row_begin, int64_t row_end, uint16_t* w);

// Index of the first g_idx entry outside [0, G), or -1 when all are valid.
int64_t gptq_check_g_idx(const GptqView& p);

}  // namespace si
