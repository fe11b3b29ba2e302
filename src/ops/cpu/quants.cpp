// Dispatch of ops/cpu/quants.h: type checks, the per-ISA dot tables, multi-row and tile loops.
#include "ops/cpu/quants.h"

#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "core/system.h"
#include "core/thread_pool.h"
#include "ops/cpu/isa.h"
#include "ops/cpu/quants_impl.h"

namespace si::cpu {
namespace {

using namespace quants;

void check_n(DType type, int64_t n, const char* what) {
  const int bs = dtype_block_size(type);
  SI_CHECK(n >= 0 && n % bs == 0, "{}: row of {} elements is not a multiple of the {} block size {}", what, n,
           dtype_name(type), bs);
}

const DotTable& table_for(DType weight) {
  const DotTable* t = nullptr;
  const Isa isa = isa_active();
  if (isa == Isa::Avx512) t = dot_table_avx512();
  if ((t == nullptr || t->dot[int(weight)] == nullptr) && isa != Isa::Scalar) t = dot_table_avx2();
  if (t == nullptr || t->dot[int(weight)] == nullptr) t = &dot_table_ref();
  return *t;
}

DotFn dot_fn(DType weight) {
  DotFn f = table_for(weight).dot[int(weight)];
  SI_CHECK(f != nullptr, "no dot product for weight type {}", dtype_name(weight));
  return f;
}

}  // namespace

void quantize_row(DType type, const float* x, void* y, int64_t n) {
  check_n(type, n, "quantize_row");
  switch (type) {
    case DType::F32: std::memcpy(y, x, size_t(n) * 4); return;
    case DType::F16: {
      auto* o = static_cast<uint16_t*>(y);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(x[i]);
      return;
    }
    case DType::BF16: {
      auto* o = static_cast<uint16_t*>(y);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(x[i]);
      return;
    }
    case DType::Q4_0: quantize_row_q4_0_ref(x, static_cast<block_q4_0*>(y), n); return;
    case DType::Q8_0: quantize_row_q8_0_ref(x, static_cast<block_q8_0*>(y), n); return;
    case DType::Q4_K: quantize_row_q4_K_ref(x, static_cast<block_q4_K*>(y), n); return;
    case DType::Q5_K: quantize_row_q5_K_ref(x, static_cast<block_q5_K*>(y), n); return;
    case DType::Q6_K: quantize_row_q6_K_ref(x, static_cast<block_q6_K*>(y), n); return;
    case DType::Q8_K: quantize_row_q8_K_ref(x, static_cast<block_q8_K*>(y), n); return;
    default: fail("cannot quantize to {}: supported are F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, Q8_K",
                  dtype_name(type));
  }
}

void quantize_rows(DType type, const float* x, void* y, int64_t n_rows, int64_t n_per_row, ThreadPool* pool) {
  check_n(type, n_per_row, "quantize_rows");
  const uint64_t row_bytes = dtype_row_bytes(type, uint64_t(n_per_row));
  auto run = [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      quantize_row(type, x + r * n_per_row, static_cast<uint8_t*>(y) + uint64_t(r) * row_bytes, n_per_row);
  };
  if (pool != nullptr && pool->size() > 1 && n_rows > 1) pool->parallel_for(n_rows, run);
  else run(0, n_rows, 0);
}

void dequantize_row(DType type, const void* x, float* y, int64_t n) {
  check_n(type, n, "dequantize_row");
  switch (type) {
    case DType::F32: std::memcpy(y, x, size_t(n) * 4); return;
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(x);
      for (int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(h[i]);
      return;
    }
    case DType::BF16: {
      const auto* h = static_cast<const uint16_t*>(x);
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(h[i]);
      return;
    }
    case DType::Q4_0: dequantize_row_q4_0(static_cast<const block_q4_0*>(x), y, n); return;
    case DType::Q8_0: dequantize_row_q8_0(static_cast<const block_q8_0*>(x), y, n); return;
    case DType::Q4_K: dequantize_row_q4_K(static_cast<const block_q4_K*>(x), y, n); return;
    case DType::Q5_K: dequantize_row_q5_K(static_cast<const block_q5_K*>(x), y, n); return;
    case DType::Q6_K: dequantize_row_q6_K(static_cast<const block_q6_K*>(x), y, n); return;
    case DType::Q8_K: dequantize_row_q8_K(static_cast<const block_q8_K*>(x), y, n); return;
    default: fail("cannot dequantize {}", dtype_name(type));
  }
}

DType vec_dot_type(DType weight) {
  switch (weight) {
    case DType::F32: return DType::F32;
    case DType::F16: return DType::F16;
    case DType::BF16: return DType::BF16;
    case DType::Q4_0:
    case DType::Q8_0: return DType::Q8_0;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::Q8_K: return DType::Q8_K;
    default: fail("no dot product for weight type {}", dtype_name(weight));
  }
}

void quantize_act(DType act_type, const float* x, void* y, int64_t n) {
  check_n(act_type, n, "quantize_act");
  switch (act_type) {
    case DType::Q8_0: quantize_row_q8_0_act(x, static_cast<block_q8_0*>(y), n); return;
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_K: quantize_row(act_type, x, y, n); return;
    default: fail("{} is not an activation type", dtype_name(act_type));
  }
}

void vec_dot(DType weight, int64_t n, const void* w_row, const void* act_row, float* out) {
  check_n(weight, n, "vec_dot");
  dot_fn(weight)(n, w_row, act_row, out);
}

void vec_dot_ref(DType weight, int64_t n, const void* w_row, const void* act_row, float* out) {
  check_n(weight, n, "vec_dot_ref");
  DotFn f = dot_table_ref().dot[int(weight)];
  SI_CHECK(f != nullptr, "no dot product for weight type {}", dtype_name(weight));
  f(n, w_row, act_row, out);
}

void vec_dot_rows(DType weight, int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                  float* out) {
  check_n(weight, n, "vec_dot_rows");
  const DotTable& t = table_for(weight);
  const DotFn dot = t.dot[int(weight)];
  const Dot4Fn dot4 = t.dot4[int(weight)];
  SI_CHECK(dot != nullptr, "no dot product for weight type {}", dtype_name(weight));
  const auto* wb = static_cast<const uint8_t*>(w);
  int64_t r = 0;
  if (dot4 != nullptr)
    for (; r + 4 <= n_rows; r += 4) dot4(n, wb + r * w_row_bytes, w_row_bytes, act, out + r);
  for (; r < n_rows; ++r) dot(n, wb + r * w_row_bytes, act, out + r);
}

void vec_dot_tile(DType weight, int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                  size_t act_row_bytes, int64_t n_act, float* out, int64_t ldo) {
  check_n(weight, n, "vec_dot_tile");
  const DotTable& t = table_for(weight);
  const DotFn dot = t.dot[int(weight)];
  const Dot4Fn dot4 = t.dot4[int(weight)];
  SI_CHECK(dot != nullptr, "no dot product for weight type {}", dtype_name(weight));
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  // Four weight rows (a few KiB for n = 2048) stay in L1/L2 while every activation row passes.
  int64_t r = 0;
  if (dot4 != nullptr)
    for (; r + 4 <= n_rows; r += 4)
      for (int64_t i = 0; i < n_act; ++i) dot4(n, wb + r * w_row_bytes, w_row_bytes, ab + i * act_row_bytes, out + i * ldo + r);
  for (; r < n_rows; ++r)
    for (int64_t i = 0; i < n_act; ++i) dot(n, wb + r * w_row_bytes, ab + i * act_row_bytes, out + i * ldo + r);
}

const char* vec_dot_path(DType weight) { return table_for(weight).name; }

}  // namespace si::cpu
