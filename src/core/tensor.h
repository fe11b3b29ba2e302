// core/tensor.h — a non-owning view of an n-d tensor.
//
//   si::TensorView w{ptr, si::DType::F32, {2048, 8192}};   // (rows, cols), row-major
//   w.numel(); w.bytes(); w.row(7);
//
// Shapes are written outermost first, as PyTorch and safetensors do: a Linear weight of
// out_features x in_features is {out, in}. (GGUF lists dimensions innermost first; the GGUF reader
// reverses them.) Views never own memory: arenas and mapped files do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace si {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);  // "[2048, 8192]"

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::F32;
  Shape shape;

  int ndim() const { return int(shape.size()); }
  int64_t dim(int i) const { return shape[size_t(i < 0 ? i + ndim() : i)]; }
  int64_t numel() const;
  int64_t rows() const;                 // product of all but the last dimension
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  uint64_t row_bytes() const { return dtype_row_bytes(dtype, uint64_t(cols())); }
  uint64_t bytes() const { return row_bytes() * uint64_t(rows()); }

  template <typename T> T* as() const { return static_cast<T*>(data); }
  void* row(int64_t r) const { return static_cast<char*>(data) + uint64_t(r) * row_bytes(); }
};

}  // namespace si
