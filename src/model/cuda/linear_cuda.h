// model/cuda/linear_cuda.h — one matmul site of the CUDA runner (fused q|k|v, o, fused gate|up,
// down): its weight as FP16 (N, K) or as GPTQ 4-bit, and y = x W^T with the kernel chosen by M.
//
//   si::CudaLinear w = si::CudaLinear::gptq({q, k, v}, arena, stream);   // 4-bit, q|k|v side by side
//   si::linear_matmul(w, xn, T, DType::F16, qkv, /*accumulate=*/false, blas, scratch, stream);
//
// 4-bit Linears of one site share a launch when they read their inputs in the same order (no
// act-order, or the same g_idx, as q/k/v of AutoGPTQ checkpoints whose Hessians agree); otherwise
// each is its own part, writing its columns of the shared output. Kernels by rows M:
//   FP16:  M = 1 -> the weight-streaming GEMV; else cuBLASLt.
//   4-bit: M <= w4_max_rows -> W4A16 (ops/cuda/w4a16.h); else each part is dequantized to fp16 in
//          scratch and multiplied by cuBLASLt (prefill of many tokens is compute-bound: fp16 tensor
//          cores win there, and the dequantization reads only the 4-bit weight).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ops/cuda/device.h"
#include "ops/cuda/fp8.h"
#include "ops/cuda/matmul.h"
#include "ops/cuda/w4a16.h"
#include "quant/gptq_pack.h"

namespace si {

constexpr int64_t kW4MaxRows = 64;  // the W4A16 kernel's largest M per launch

struct CudaLinear {
  int64_t N = 0, K = 0;
  const void* f16 = nullptr;          // (N, K) fp16, when not 4-bit
  cuda::Fp8Rows f8;                   // (N, K) e4m3 copy of f16 with per-row scales, when the runner keeps one
  std::vector<cuda::W4Weight> parts;  // 4-bit: side by side along N, in order
  bool is_4bit() const { return !parts.empty(); }
  bool needs_perm() const;            // some part has an act-order permutation
  int64_t max_part_n() const;
  // GPTQ 4-bit Linears of the same input (K) as one site, outputs in the order given.
  static CudaLinear gptq(std::span<const cuda::GptqView> linears, cuda::DeviceArena& arena, const cuda::Stream& s);
};

// A checkpoint's tensors (quant/gptq_pack.h) as the W4A16 op reads them; bits must be 4.
cuda::GptqView to_w4_view(const GptqView& v, GptqFormat format);

// Device scratch of the 4-bit paths, sized by the runner for its largest pass.
struct LinearScratch {
  void* x_perm = nullptr;  // (T, K) fp16: x in an act-order weight's input order
  void* w_f16 = nullptr;   // (N of the widest part, K) fp16: a part dequantized for cuBLAS (M > 64)
  void* y_part = nullptr;  // (T, N of the widest part) f32 or f16: one part's output (M > 64, several parts)
};

// y (M, N) (y_t F16 or F32; += with accumulate) = x (M, K) fp16 W^T; 4-bit weights use W4A16 up to
// w4_max_rows rows (<= kW4MaxRows), dequantize + cuBLAS above.
void linear_matmul(const CudaLinear& w, const void* x, int64_t M, DType y_t, void* y, bool accumulate,
                   cuda::Blas& blas, const LinearScratch& sc, cudaStream_t s, int64_t w4_max_rows = kW4MaxRows);

}  // namespace si
