// ops/packed_weight.h — quantized weight matrices repacked once (at model load) into the CPU
// kernels' 16-row interleaved layout (ops/cpu/gemm_packed.h), and the matmul that runs on them.
//
//   if (si::ops::PackedWeight::supports(w.dtype)) {
//     si::ops::PackedWeight p = si::ops::PackedWeight::pack(w, &pool);
//     si::ops::matmul(x, p, y, pool);   // == ops::matmul(x, w, y, pool) up to float summation order
//   }
//
// Q8_0, Q4_0, Q4_K, Q5_K and Q6_K have a packed layout (the file's bytes rearranged, plus at most
// 63 bytes per 16 rows). The packed copy is anonymous memory: pack(w, pool, /*release_source=*/true) drops the
// source's pages from this process as they are consumed (MADV_DONTNEED: only for read-only file
// mappings, never for memory the process wrote), so a model's resident size stays near its file
// size. The source view stays valid: its pages fault back in when read (embedding rows of a tied
// output matrix, selected-row logits, the reference path).
#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace si::ops {

class PackedWeight {
 public:
  static bool supports(DType t);  // Q8_0, Q4_0, Q4_K, Q5_K, Q6_K
  // w: (N, K) of a supported type, row-major (any N >= 1; the last 16-row group is zero-padded).
  static PackedWeight pack(const TensorView& w, ThreadPool* pool = nullptr, bool release_source = false);

  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  uint64_t bytes() const { return bytes_; }
  const uint8_t* data() const { return data_.get(); }
  float value(int64_t r, int64_t k) const;  // element (r, k) dequantized: tests and debugging
  // Row r dequantized into out (cols() floats), equal to dequantizing the source row: the embedding
  // lookup of a tied output matrix reads the packed copy, so the released file pages stay released
  // (a fault on them maps the page cache's whole large folio, 2 MiB, per row looked up).
  void dequantize_row(int64_t r, float* out) const;

 private:
  DType dtype_ = DType::Q8_0;
  int64_t rows_ = 0, cols_ = 0;
  uint64_t bytes_ = 0;
  std::shared_ptr<uint8_t> data_;  // anonymous mapping, unmapped with the last copy
};

// y (M, N) = x (M, K) w^T with w packed; activations are quantized as in ops::matmul.
void matmul(const TensorView& x, const PackedWeight& w, const TensorView& y, ThreadPool& pool);

}  // namespace si::ops
