// ops/cpu/gemm_packed.h — internal to ops/: the 16-row interleaved layouts of quantized weights
// (made once at load time, ops/packed_weight.h) and the per-ISA GEMM kernels over them.
//
//   const si::cpu::PackedKernels& k = si::cpu::packed_kernels(si::cpu::isa_active());
//   k.gemm[si::cpu::packed_slot(DType::Q4_0)](args, g0, g1);   // output columns of groups [g0, g1)
//
// Why: with row-major blocks every (row, block) pair pays for its own scale conversion, horizontal
// sum and activation reload. Interleaving 16 rows puts one row in each int32 lane of a 512-bit
// register: one vpdpbusd with a broadcast 4-byte activation chunk advances 16 rows at once, the 16
// row scales convert with one instruction, and one FMA applies them. Prefill reuses each unpacked
// weight block for several activation rows.
//
// A (N, K) matrix becomes G = ceil(N / 16) groups of 16 rows (the last zero-padded), each group
// contiguous (group_bytes apart): first the meta data of all its blocks (scales; meta bytes per
// block, region padded to a multiple of 64), then the quants of all its blocks (quant bytes per
// block). Quants are grouped in "chunks": 4 consecutive elements of each of the 16 rows, 64 bytes
// when unpacked to one byte per element; chunk k of a block pairs with activation bytes 4k..4k+3.
//   Q8_0 (32 elements; meta 32, quants 512): meta = 16 fp16 d; quant chunk k (64 bytes) holds
//        elements 4k..4k+3 of each row as q + 128 (unsigned).
//   Q4_0 (32; 32, 256): meta = 16 fp16 d; 64 bytes c = 0..3 are the file's bytes 4c..4c+3 of
//        each row: low nibbles are chunk c, high nibbles chunk 4 + c.
//   Q6_K (256; 288, 3072): meta = 16 fp16 d, then int8 scales [sub-block s][row]; quants per
//        sub-block s (16 elements, chunks 4s..4s+3) 192 bytes: L0 = low 4 bits of chunks 4s (low
//        nibble) and 4s+1 (high), L1 = the same for 4s+2 / 4s+3, H = top 2 bits of the four chunks
//        at bits 0-1, 2-3, 4-5, 6-7. Values q in [0, 64) decode as d * sc * (q - 32).
//   Q4_K (256; 256, 2048): meta = 16 fp16 d, 16 fp16 dmin, then the file's 12 scale/min bytes
//        transposed [byte j][row] (6-bit values unpacked in the kernel, 16 rows at a time); quants
//        per sub-block pair p: 8 x 64 bytes, c = 0..7 the file's bytes 32p + 4c..+3 of each row:
//        low nibbles are chunk c of sub-block 2p, high nibbles chunk c of sub-block 2p + 1.
//   Q5_K (256; 256, 2560): Q4_K's layout, then 8 x 64 bytes of high bits: c = 0..7 the file's qh
//        bytes 4c..4c+3 of each row (bit s: the fifth bit of chunk c of sub-block s).
// Activations are quantized rows split into int8 values, float scales and int32 block sums (the
// sums undo the weights' offsets, 128 for Q8_0, 8 for Q4_0, 32 for Q6_K, and apply the mins of
// Q4_K / Q5_K):
//   Q8_0 / Q4_0 weights: Q8_0 activations (llama.cpp's x86 rounding), d and s per 32 elements.
//   K-quant weights:     Q8_K activations, d per 256 elements, s per 16 (the Q8_K bsums).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "ops/cpu/isa.h"

namespace si::cpu {

inline constexpr int kPackRows = 16;

struct PackedLayout {
  int block = 0;  // elements per block (0: no packed layout)
  int meta = 0;   // bytes of meta data per block of 16 rows
  int quant = 0;  // bytes of quants per block of 16 rows
};
inline PackedLayout packed_layout(DType t) {
  switch (t) {
    case DType::Q8_0: return {32, 32, 512};
    case DType::Q4_0: return {32, 32, 256};
    case DType::Q6_K: return {256, 288, 3072};
    case DType::Q4_K: return {256, 256, 2048};
    case DType::Q5_K: return {256, 256, 2560};
    default: return {};
  }
}
inline uint64_t packed_meta_bytes(DType t, int64_t K) {
  const PackedLayout l = packed_layout(t);
  return (uint64_t(K / l.block) * uint64_t(l.meta) + 63) / 64 * 64;
}
inline uint64_t packed_group_bytes(DType t, int64_t K) {
  const PackedLayout l = packed_layout(t);
  return packed_meta_bytes(t, K) + uint64_t(K / l.block) * uint64_t(l.quant);
}

// Packs rows [16g, 16g + 16) of a row-major matrix (n_rows rows of K elements, row r at
// src + r * row_bytes; rows past n_rows are zeros) into group g at dst, which must hold
// packed_group_bytes zeros (fresh anonymous memory does: no second pass over it).
void pack_group(DType t, const uint8_t* src, uint64_t row_bytes, int64_t n_rows, int64_t K, int64_t g, uint8_t* dst);
// Element k of row r of a packed matrix, dequantized (tests, debugging).
float packed_value(DType t, const uint8_t* packed, int64_t K, int64_t r, int64_t k);

// Activations of a packed GEMM of weight type `t`: M rows, row m at q + m * K, d + m * n_d(K),
// s + m * n_s(K).
struct PackedActs {
  const int8_t* q = nullptr;
  const float* d = nullptr;
  const int32_t* s = nullptr;
  int64_t M = 0;
};
inline bool packed_k_quant(DType t) { return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }
inline int64_t packed_act_n_d(DType t, int64_t K) { return packed_k_quant(t) ? K / 256 : K / 32; }
inline int64_t packed_act_n_s(DType t, int64_t K) { return packed_k_quant(t) ? K / 16 : K / 32; }
// Quantizes rows [m0, m1) of x (M, K) into the arrays of PackedActs, as ops::matmul's row-major
// quantized path does (ops/cpu/quants.h quantize_act of vec_dot_type(t)).
void quantize_packed_acts(DType t, const float* x, int64_t K, int64_t m0, int64_t m1, int8_t* q, float* d, int32_t* s);

// y[m * ldy + n] = W[n] . x[m] for the rows n of groups [g0, g1) below N, every m in [0, M).
struct PackedGemmArgs {
  const uint8_t* w = nullptr;  // packed matrix
  uint64_t group_bytes = 0, meta_bytes = 0;
  int64_t N = 0, K = 0;        // rows, columns of the matrix
  PackedActs a;
  float* y = nullptr;
  int64_t ldy = 0;
};
using PackedGemmFn = void (*)(const PackedGemmArgs& args, int64_t g0, int64_t g1);

inline constexpr int kPackedTypes = 5;
inline int packed_slot(DType t) {
  switch (t) {
    case DType::Q8_0: return 0;
    case DType::Q4_0: return 1;
    case DType::Q6_K: return 2;
    case DType::Q4_K: return 3;
    case DType::Q5_K: return 4;
    default: return -1;
  }
}

struct PackedKernels {
  PackedGemmFn gemm[kPackedTypes] = {};
  const char* name = "";
};

const PackedKernels& packed_kernels_ref();     // plain loops: the definition the others are tested against
const PackedKernels* packed_kernels_avx2();    // nullptr when the CPU lacks AVX2+FMA+F16C
const PackedKernels* packed_kernels_avx512();  // nullptr when the CPU lacks AVX-512 F/BW/VL + VNNI
// The fastest table for `isa` (falling back to narrower ones the CPU has).
const PackedKernels& packed_kernels(Isa isa);

}  // namespace si::cpu
