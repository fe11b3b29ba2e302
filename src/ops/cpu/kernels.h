// ops/cpu/kernels.h — the per-ISA CPU kernels behind the dispatch files in ops/.
//
//   const si::cpu::KernelTable& k = si::cpu::kernels(si::cpu::isa_active());
//   k.gemm[int(si::cpu::WeightKind::F16)](args, n0, n1);   // y[:, n0:n1] = x W[n0:n1]^T
//
// Internal to ops/: callers use ops/matmul.h, ops/attention.h. One table per ISA (scalar, AVX2+FMA+
// F16C, AVX-512); each fast table is tested against the fp32 references in tests/ops.
#pragma once

#include <cstdint>

#include "ops/cpu/isa.h"

namespace si::cpu {

// y[m, n] = sum_k x[m, k] * W[row(n), k]  for m in [0, M), n in [n0, n1).
struct GemmArgs {
  const float* x = nullptr;        // (M, K) activations, row stride ldx floats
  int64_t ldx = 0;
  int64_t M = 0;
  const uint8_t* w = nullptr;      // (N, K) weights in their stored type, row r at w + r * w_row_bytes
  uint64_t w_row_bytes = 0;
  const int32_t* rows = nullptr;   // optional: output column n uses weight row rows[n]
  int64_t K = 0;
  float* y = nullptr;              // (M, N) output, row stride ldy floats
  int64_t ldy = 0;
};

enum class WeightKind { F32 = 0, F16 = 1, BF16 = 2 };
using GemmFn = void (*)(const GemmArgs& a, int64_t n0, int64_t n1);

struct KernelTable {
  GemmFn gemm[3];                                           // by WeightKind
  float (*dot)(const float* a, const float* b, int64_t n);  // sum a*b
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);  // y += alpha * x
};

const KernelTable& kernels(Isa isa);

// Defined in the per-ISA files (only called when the CPU has the ISA).
const KernelTable& kernels_scalar();
const KernelTable& kernels_avx2();
const KernelTable& kernels_avx512();

}  // namespace si::cpu
