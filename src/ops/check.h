// ops/check.h — shape/dtype validation shared by the dispatch files; errors name op, tensor, sizes.
//
//   ops::expect_f32(x, "matmul", "x");  ops::expect_dim(y, 1, w.dim(0), "matmul", "y");
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/tensor.h"

namespace si::ops {

inline void expect_f32(const TensorView& t, const char* op, const char* name) {
  SI_CHECK(t.dtype == DType::F32, "{}: {} must be F32, got {}", op, name, dtype_name(t.dtype));
  SI_CHECK(t.data != nullptr || t.numel() == 0, "{}: {} has no data", op, name);
}

inline void expect_ndim(const TensorView& t, int ndim, const char* op, const char* name) {
  SI_CHECK(t.ndim() == ndim, "{}: {} must have {} dimensions, got shape {}", op, name, ndim, shape_str(t.shape));
}

inline void expect_dim(const TensorView& t, int d, int64_t want, const char* op, const char* name) {
  SI_CHECK(t.dim(d) == want, "{}: {} dimension {} must be {}, got {} (shape {})", op, name, d, want, t.dim(d),
           shape_str(t.shape));
}

}  // namespace si::ops
