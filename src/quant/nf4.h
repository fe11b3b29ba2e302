// quant/nf4.h — 4-bit NormalFloat (NF4) with double quantization, as QLoRA / bitsandbytes store a
// frozen base weight: blocks of 64 values share an absmax; the absmax values are themselves
// quantized to 8 bits (bitsandbytes' signed dynamic map) in blocks of 256 after subtracting their mean.
//
//   si::Nf4Tensor q = si::nf4_quantize(w, n);          // n floats -> n/2 bytes + scales
//   std::vector<float> back(n); si::nf4_dequantize(q, back.data());
//
// Layout (bitsandbytes quantize_4bit, quant_type="nf4"): byte i holds element 2i in its HIGH nibble
// and element 2i+1 in its low nibble; code k decodes to nf4_code()[k] * absmax(block).
#pragma once

#include <cstdint>
#include <vector>

namespace si {

inline constexpr int kNf4Block = 64;         // values per absmax
inline constexpr int kNf4ScaleBlock = 256;   // absmax values per second-level scale

struct Nf4Tensor {
  int64_t numel = 0;
  std::vector<uint8_t> packed;    // (ceil(numel/2)) two codes per byte, high nibble first
  bool double_quant = true;
  std::vector<float> absmax;      // (n_blocks) when !double_quant
  std::vector<uint8_t> absmax_q;  // (n_blocks) 8-bit codes into nf4_dq_code() when double_quant
  std::vector<float> absmax2;     // (ceil(n_blocks/256)) second-level absmax
  float absmax_offset = 0.0f;     // mean of the absmax values, added back after decoding

  int64_t n_blocks() const { return (numel + kNf4Block - 1) / kNf4Block; }
  float block_absmax(int64_t b) const;  // the (decoded) scale of block b
  uint64_t bytes() const;               // storage, for memory reports
};

const float* nf4_code();          // the 16 NF4 values (bitsandbytes), ascending, code 7 = 0
const float* nf4_dq_code();       // the 256-value signed dynamic map (create_dynamic_map(signed=True))
uint8_t nf4_quantize_value(float x);  // x in [-1, 1] -> nearest code (bitsandbytes' decision tree)

Nf4Tensor nf4_quantize(const float* x, int64_t n, bool double_quant = true);
void nf4_dequantize(const Nf4Tensor& q, float* out);  // out (numel)
// Rows [r0, r1) of a (rows, cols) weight, for on-the-fly use; cols * r0 need not align to a block.
void nf4_dequantize_range(const Nf4Tensor& q, int64_t begin, int64_t end, float* out);

}  // namespace si
