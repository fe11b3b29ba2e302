// ops/cpu/quants.h — GGUF block quantization on the CPU: quantize / dequantize rows and the dot
// products of a quantized weight row with activations quantized the way llama.cpp does.
//
//   std::vector<uint8_t> w(si::dtype_row_bytes(DType::Q4_K, n));
//   si::cpu::quantize_row(DType::Q4_K, x, w.data(), n);          // == llama.cpp quantize_row_q4_K_ref
//
//   const DType at = si::cpu::vec_dot_type(DType::Q4_K);         // Q8_K
//   std::vector<uint8_t> a(si::dtype_row_bytes(at, n));
//   si::cpu::quantize_act(at, act, a.data(), n);                 // once per activation row
//   si::cpu::vec_dot_rows(DType::Q4_K, n, W, row_bytes, N, a.data(), y);   // y[r] = W[r] . act
//
// Weight types: F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K (Q8_K too, for tests). Activation
// (vec_dot_type) of each: F32 -> F32, F16 -> F16, BF16 -> BF16, Q4_0 / Q8_0 -> Q8_0, K-quants ->
// Q8_K. n must be a multiple of the weight type's block size; callers that know the tensor name
// check it first so their error can name the tensor.
//
// quantize_row is the llama.cpp reference quantizer (no importance matrix), byte for byte: use it
// for files. quantize_act is how llama.cpp's x86 CPU backend quantizes activations (for Q8_0 it
// rounds half to even with 127/amax, unlike the reference), so logits can match llama.cpp's.
// vec_dot* take the fastest path for cpu::isa_active() (AVX-512 VNNI, AVX2, scalar); *_ref is the
// plain scalar definition every fast path is tested against (integer block sums are exact; only
// the float combination order differs).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace si {
class ThreadPool;
}

namespace si::cpu {

// float -> blocks, llama.cpp's reference quantizers; F16/BF16 round to nearest even; F32 copies.
void quantize_row(DType type, const float* x, void* y, int64_t n);
// Many rows at once (row r at x + r * n_per_row, y + r * row bytes), split over `pool` if given.
void quantize_rows(DType type, const float* x, void* y, int64_t n_rows, int64_t n_per_row,
                   ThreadPool* pool = nullptr);

// blocks -> float.
void dequantize_row(DType type, const void* x, float* y, int64_t n);

// The activation type the dot product of `weight` consumes.
DType vec_dot_type(DType weight);

// float activations -> vec_dot_type blocks, as llama.cpp's CPU backend does on x86.
void quantize_act(DType act_type, const float* x, void* y, int64_t n);

// out[0] = w_row . act_row; act_row holds vec_dot_type(weight) data of the same n.
void vec_dot(DType weight, int64_t n, const void* w_row, const void* act_row, float* out);
void vec_dot_ref(DType weight, int64_t n, const void* w_row, const void* act_row, float* out);

// out[r] = W[r] . act for r in [0, n_rows), W[r] at w + r * w_row_bytes (4 rows per step).
void vec_dot_rows(DType weight, int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                  const void* act, float* out);

// Prefill tile: out[i * ldo + r] = W[r] . A[i] for i in [0, n_act), r in [0, n_rows); A[i] at
// act + i * act_row_bytes. Weight blocks are reused across activation rows while in cache.
void vec_dot_tile(DType weight, int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                  const void* act, size_t act_row_bytes, int64_t n_act, float* out, int64_t ldo);

// Which path vec_dot takes for `weight` now ("avx512-vnni", "avx2", "scalar").
const char* vec_dot_path(DType weight);

}  // namespace si::cpu
