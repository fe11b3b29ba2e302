// core/quant_blocks.h — GGUF / ggml block-quantized layouts, byte for byte as ggml-common.h.
//
//   const si::block_q4_K* b = reinterpret_cast<const si::block_q4_K*>(row);  // n / 256 blocks
//   float d = si::f16_to_f32(b[0].d);                                       // fp16 scales as uint16_t
//
// Plain C layout (no STL, no constructors) so that CPU kernels, CUDA kernels and file readers share
// it. Every struct's size is asserted: the file format depends on it. A weight of type T decodes as
// w = d * q (Q4_0, Q8_0, Q6_K, Q8_K) or w = d * sc * q - dmin * m (Q4_K, Q5_K), with q and the 6-bit
// sub-block scales/mins unpacked as in ops/cpu/quants.cpp.
#pragma once

#include <stdint.h>

namespace si {

inline constexpr int QK4_0 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK_K = 256;           // super-block of the K-quants
inline constexpr int K_SCALE_SIZE = 12;    // 8 six-bit scales + 8 six-bit mins, packed

// 4.5 bits per weight: 32 weights, one fp16 scale, nibbles q in [0, 16) decode as d * (q - 8).
// qs[j] holds weight j in its low nibble and weight j + 16 in its high nibble.
struct block_q4_0 {
  uint16_t d;             // fp16
  uint8_t qs[QK4_0 / 2];
};
static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 must be 18 bytes");

// 8.5 bits per weight: 32 signed bytes and one fp16 scale. Also the activation type of Q4_0 / Q8_0.
struct block_q8_0 {
  uint16_t d;             // fp16
  int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 must be 34 bytes");

// 4.5 bits per weight: 8 sub-blocks of 32 with 6-bit scale and 6-bit min each, fp16 super scales.
// qs: 4 groups of 32 bytes; group g holds sub-block 2g in low nibbles and 2g+1 in high nibbles.
struct block_q4_K {
  uint16_t d;                      // fp16 super-block scale of the scales
  uint16_t dmin;                   // fp16 super-block scale of the mins
  uint8_t scales[K_SCALE_SIZE];    // 6-bit scales and mins (get_scale_min_k4 layout)
  uint8_t qs[QK_K / 2];            // 4-bit quants
};
static_assert(sizeof(block_q4_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K must be 144 bytes");

// 5.5 bits per weight: Q4_K plus one high bit per weight in qh (bit 2g / 2g+1 of qh[l] for the
// sub-blocks of group g).
struct block_q5_K {
  uint16_t d;                      // fp16
  uint16_t dmin;                   // fp16
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];            // high bits
  uint8_t qs[QK_K / 2];            // low 4 bits
};
static_assert(sizeof(block_q5_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 8 + QK_K / 2, "block_q5_K must be 176 bytes");

// 6.5625 bits per weight: 16 sub-blocks of 16 with signed 8-bit scales; q in [0, 64) decodes as
// d * scales[s] * (q - 32). Low 4 bits in ql, high 2 bits in qh.
struct block_q6_K {
  uint8_t ql[QK_K / 2];            // lower 4 bits
  uint8_t qh[QK_K / 4];            // upper 2 bits
  int8_t scales[QK_K / 16];        // 8-bit scales
  uint16_t d;                      // fp16 super-block scale
};
static_assert(sizeof(block_q6_K) == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, "block_q6_K must be 210 bytes");

// 9.125 bits per weight: the activation type of the K-quant dot products (never stored in files).
// d is a float32; bsums[j] = sum of qs[16j .. 16j+16), used to apply the K-quant mins cheaply.
struct block_q8_K {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
};
static_assert(sizeof(block_q8_K) == 4 + QK_K + QK_K / 16 * 2, "block_q8_K must be 292 bytes");

}  // namespace si
