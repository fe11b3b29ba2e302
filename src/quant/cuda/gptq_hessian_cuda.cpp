// GptqHessianCuda: H = 2/S X^T X on the device, as GptqHessian does it on the CPU: fp32 products
// of 4096-row chunks (cuBLAS ssyrk, no TF32) summed in fp64.
#include <algorithm>

#include <cublas_v2.h>

#include "core/error.h"
#include "quant/cuda/gptq_blas.h"
#include "quant/cuda/gptq_cuda.h"
#include "quant/cuda/gptq_kernels.h"

namespace si::cuda {

GptqHessianCuda::GptqHessianCuda(int64_t in, cudaStream_t s) : s_(s) {
  cublasHandle_t h = nullptr;
  check_cublas(cublasCreate(&h), "cublasCreate");
  blas_ = h;
  check_cublas(cublasSetStream(h, s), "cublasSetStream");
  // CUBLAS_DEFAULT_MATH: at least the requested precision, so fp32 products never go through TF32.
  check_cublas(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  reset(in);
}

GptqHessianCuda::~GptqHessianCuda() {
  if (blas_) cublasDestroy(static_cast<cublasHandle_t>(blas_));
}

void GptqHessianCuda::reset(int64_t in) {
  SI_CHECK(in > 0, "GPTQ (CUDA): Hessian width {} must be positive", in);
  if (in > cap_) {
    // Freed before the larger ones are made: peak memory is one set of buffers.
    sum_ = DeviceBuffer(), tmp_ = DeviceBuffer(), h_ = DeviceBuffer();
    sum_ = DeviceBuffer(size_t(in * in) * sizeof(double), "gptq hessian sum");
    tmp_ = DeviceBuffer(size_t(in * in) * sizeof(float), "gptq hessian chunk");
    h_ = DeviceBuffer(size_t(in * in) * sizeof(double), "gptq hessian");
    cap_ = in;
  }
  in_ = in;
  n_ = 0;
  scaled_ = false;
  SI_CUDA_CHECK(cudaMemsetAsync(sum_.data(), 0, size_t(in * in) * sizeof(double), s_));
}

void GptqHessianCuda::add(const float* x, int64_t n_rows, int64_t n_samples) {
  constexpr int64_t kChunk = 4096;
  const float one = 1.0f, zero = 0.0f;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kChunk) {
    const int64_t n = std::min(kChunk, n_rows - r0);
    // Column-major: x is (in, n) with ld in, so x x^T = X^T X; the lower triangle (column-major) is
    // the row-major upper triangle the CPU fills.
    check_cublas(cublasSsyrk(static_cast<cublasHandle_t>(blas_), CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, int(in_), int(n),
                             &one, x + r0 * in_, int(in_), &zero, tmp_.as<float>(), int(in_)),
                 "cublasSsyrk");
    gptq::accumulate_upper(sum_.as<double>(), tmp_.as<float>(), in_, s_);
  }
  n_ += n_samples;
  scaled_ = false;
}

const double* GptqHessianCuda::matrix() {
  SI_CHECK(n_ > 0, "GPTQ: no calibration data was added to the Hessian");
  if (!scaled_) gptq::symmetrize(sum_.as<double>(), 2.0 / double(n_), in_, h_.as<double>(), s_);
  scaled_ = true;
  return h_.as<double>();
}

}  // namespace si::cuda
