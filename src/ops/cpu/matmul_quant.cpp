#include "ops/cpu/matmul_quant.h"

#include "core/error.h"

namespace si::cpu {

// Placeholder until ops/cpu/quants.h (the quant engineer's kernels) lands.
void matmul_quant(const float*, int64_t, int64_t, const TensorView& w, const int32_t*, float*, int64_t,
                  ThreadPool&) {
  fail("matmul: weights of type {} are not supported yet", dtype_name(w.dtype));
}

void dequantize_row_any(DType t, const void*, float*, int64_t) {
  fail("dequantize: type {} is not supported yet", dtype_name(t));
}

}  // namespace si::cpu
