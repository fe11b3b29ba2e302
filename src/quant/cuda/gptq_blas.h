// quant/cuda/gptq_blas.h — status checks for the cuBLAS and cuSOLVER calls of quant/cuda/.
#pragma once

#include <cublas_v2.h>
#include <cusolverDn.h>

#include "core/error.h"

namespace si::cuda {

inline void check_cublas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) fail("{} failed: {} ({})", what, cublasGetStatusName(st), cublasGetStatusString(st));
}

inline void check_cusolver(cusolverStatus_t st, const char* what) {
  if (st != CUSOLVER_STATUS_SUCCESS) fail("{} failed: cuSOLVER status {}", what, int(st));
}

}  // namespace si::cuda
