// ops/cpu/quants_impl.h — internal to ops/cpu/quants*.cpp and vec_dot_*.cpp: the per-type
// reference functions and the per-ISA dot-product tables that quants.cpp dispatches to.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/quant_blocks.h"

namespace si::cpu::quants {

inline constexpr int kTypes = 16;  // DType values

// out = w . a over n elements.
using DotFn = void (*)(int64_t n, const void* w, const void* a, float* out);
// out[0..4) = W[0..4) . a, W[r] at w + r * w_row_bytes.
using Dot4Fn = void (*)(int64_t n, const void* w, size_t w_row_bytes, const void* a, float* out);

struct DotTable {
  DotFn dot[kTypes] = {};
  Dot4Fn dot4[kTypes] = {};  // nullptr: four calls of dot
  const char* name = "";
};

const DotTable& dot_table_ref();
const DotTable* dot_table_avx2();    // nullptr when the CPU lacks AVX2+FMA+F16C
const DotTable* dot_table_avx512();  // nullptr when the CPU lacks AVX-512 F/BW/VL + VNNI

// Reference quantizers (llama.cpp *_ref), built with -ffp-contract=off.
void quantize_row_q4_0_ref(const float* x, block_q4_0* y, int64_t n);
void quantize_row_q8_0_ref(const float* x, block_q8_0* y, int64_t n);
void quantize_row_q4_K_ref(const float* x, block_q4_K* y, int64_t n);
void quantize_row_q5_K_ref(const float* x, block_q5_K* y, int64_t n);
void quantize_row_q6_K_ref(const float* x, block_q6_K* y, int64_t n);
void quantize_row_q8_K_ref(const float* x, block_q8_K* y, int64_t n);
// llama.cpp's x86 activation quantizer for Q8_0 (127/amax, round half to even).
void quantize_row_q8_0_act(const float* x, block_q8_0* y, int64_t n);

void dequantize_row_q4_0(const block_q4_0* x, float* y, int64_t n);
void dequantize_row_q8_0(const block_q8_0* x, float* y, int64_t n);
void dequantize_row_q4_K(const block_q4_K* x, float* y, int64_t n);
void dequantize_row_q5_K(const block_q5_K* x, float* y, int64_t n);
void dequantize_row_q6_K(const block_q6_K* x, float* y, int64_t n);
void dequantize_row_q8_K(const block_q8_K* x, float* y, int64_t n);

// The 6-bit scale and min of sub-block j (0..8) of a Q4_K / Q5_K block.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

}  // namespace si::cpu::quants
