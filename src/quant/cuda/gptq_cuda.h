// quant/cuda/gptq_cuda.h — GPTQ of one Linear on the GPU: the same algorithm and results as
// si::gptq_quantize (quant/gptq.h, the CPU reference), with the heavy parts on the device.
//
//   si::cuda::GptqHessianCuda h(in, stream);        // H = 2/S sum x x^T, fp64 on the device
//   h.add(x_dev, n_rows, n_samples);                // x (n_rows, in) fp32 device
//   si::cuda::GptqSolverCuda solver(stream);
//   si::GptqResult r = solver.quantize(w_dev, out, in, h.matrix(), o, /*rtn=*/false);
//   // w_dev (out, in) now holds the dequantized Q; r.codes is on the host, r.w empty
//
//   si::GptqResult r = si::cuda::gptq_quantize_cuda(w, out, in, hess, o);   // host in and out (tests)
//
// Where the work goes: the Hessian as cuBLAS ssyrk over 4096-row chunks summed in fp64 (as the CPU
// does); dead inputs, act-order permutation and damping in small kernels; U = the upper Cholesky
// factor of H^-1 by cuSOLVER in fp64 (Dpotrf of the reversed matrix, then Xtrtri: the CPU's
// dpotrf + dtrtri); each block of 128 columns by one kernel in which a thread owns an output row
// and walks the block's columns in order (grid finds, rounding, error feedback inside the block:
// rows are independent), then the lazy update of the later columns by one cuBLAS sgemm. Arithmetic
// is plain fp32 (no TF32, no fused multiply-add inside the block) with fp64 factorisation, so codes
// equal the CPU's except where the two BLAS libraries' summation orders move a value across a
// rounding boundary.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "ops/cuda/device.h"
#include "quant/gptq.h"

namespace si::cuda {

class GptqHessianCuda {
 public:
  GptqHessianCuda(int64_t in, cudaStream_t s);
  ~GptqHessianCuda();
  GptqHessianCuda(const GptqHessianCuda&) = delete;
  GptqHessianCuda& operator=(const GptqHessianCuda&) = delete;
  // Restarts the sum for inputs of width `in` (reusing the buffers when they are large enough).
  void reset(int64_t in);
  void add(const float* x, int64_t n_rows, int64_t n_samples = 1);  // x (n_rows, in) fp32 device
  // H (in, in) fp64 device, symmetric, scaled by 2 / samples; valid until the next reset/add.
  const double* matrix();
  int64_t in() const { return in_; }

 private:
  cudaStream_t s_;
  void* blas_ = nullptr;  // cublasHandle_t
  int64_t in_ = 0, n_ = 0, cap_ = 0;
  DeviceBuffer sum_;  // (cap, cap) fp64: sum x x^T, the upper triangle (row-major) valid
  DeviceBuffer tmp_;  // (cap, cap) fp32: one chunk's product
  DeviceBuffer h_;    // (cap, cap) fp64: the scaled symmetric matrix
  bool scaled_ = false;
};

class GptqSolverCuda {
 public:
  explicit GptqSolverCuda(cudaStream_t s);
  ~GptqSolverCuda();
  GptqSolverCuda(const GptqSolverCuda&) = delete;
  GptqSolverCuda& operator=(const GptqSolverCuda&) = delete;
  // w (out, in) fp32 device, replaced by the dequantized Q; h (in, in) fp64 device (read only).
  // `rtn` rounds to nearest on the same grid (no error feedback), measuring err / ref on h.
  GptqResult quantize(float* w, int64_t out, int64_t in, const double* h, const GptqOptions& o, bool rtn);
  // Peaks seen at the end of each call, while its workspaces were held: bytes in DeviceBuffers of
  // the whole process (cuda::bytes_allocated) and bytes in use on the device (cudaMemGetInfo:
  // with the CUDA context and the cuBLAS / cuSOLVER workspaces).
  size_t peak_allocated() const { return peak_allocated_; }
  size_t peak_device_used() const { return peak_used_; }

 private:
  cudaStream_t s_;
  void* blas_ = nullptr;    // cublasHandle_t
  void* solver_ = nullptr;  // cusolverDnHandle_t
  size_t peak_allocated_ = 0, peak_used_ = 0;
};

// Host convenience for tests and one-off use: uploads w and h, quantizes, downloads codes and Q.
GptqResult gptq_quantize_cuda(const float* w, int64_t out, int64_t in, const GptqHessian& h, const GptqOptions& o,
                              bool rtn = false);

}  // namespace si::cuda
