// ops/cuda/w4a16.h — 4-bit GPTQ weights times fp16 activations (W4A16) on the GPU.
//
//   si::cuda::GptqView g{K, N, 128, qweight, qzeros, scales, g_idx};   // the checkpoint's tensors
//   si::cuda::W4Weight w = si::cuda::w4_upload(g, arena, stream);       // repacked once, on the GPU
//   si::cuda::w4a16_matmul(w, x, M, DType::F32, y, /*accumulate=*/true, scratch, stream);  // y += x W^T
//   // q, k and v side by side (one launch) when their input orders agree:
//   const si::cuda::GptqView qkv[] = {q, k, v};
//   if (si::cuda::w4_same_order(q, k) && si::cuda::w4_same_order(q, v)) w = si::cuda::w4_upload(qkv, 3, arena, stream);
//
// On disk (AutoGPTQ / transformers layout, kept as is): qweight int32 (K/8, N) packs 8 4-bit values
// along the input dimension (k % 8 in bits 4*(k%8)); qzeros int32 (K/G, N/8) packs zero points along
// the output dimension, stored minus one (AutoGPTQ's "v1" format); scales fp16 (K/G, N); g_idx
// int32 (K), the group of each input row (act-order checkpoints permute it). w = scale * (q - zero).
//
// At load, w4_upload reorders the input dimension so that groups are contiguous (act-order), and
// lays the nibbles out in the order the tensor cores read them: for each 16 output rows and 64
// inputs, 32 lanes x 16 bytes, one coalesced 512-byte load per warp. The kernel turns nibbles into
// fp16 (q - zero) in registers (exact small integers) and multiplies with mma.sync m16n8k16 (fp32
// accumulation) with the weights as the 16-row operand, so a batch of 1..8 rows wastes no weight
// traffic. With groups of 64 inputs or more the group scale is applied to the fp32 partial sums
// (scale * sum (q - zero) x, no rounding of the weight to fp16); with smaller groups each weight
// is scale * (q - zero) rounded to fp16, as the CPU path dequantizes. For M above 64 rows,
// dequantize to fp16 once (w4_dequantize) and use cuBLAS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <cuda_runtime.h>

#include "core/dtype.h"
#include "ops/cuda/device.h"

namespace si::cuda {

// Host views of one Linear's GPTQ tensors (K = in_features, N = out_features).
struct GptqView {
  int64_t K = 0, N = 0;
  int group_size = 128;            // GPTQ's -1 (one group per output row) is written as K
  const int32_t* qweight = nullptr;  // (K/8, N)
  const int32_t* qzeros = nullptr;   // (ceil(K/G), N/8)
  const uint16_t* scales = nullptr;  // (ceil(K/G), N) fp16 bits
  const int32_t* g_idx = nullptr;    // (K) or null for k / G
  bool zeros_minus_one = true;       // AutoGPTQ v1 stores zero - 1
};

// The repacked weight on the device (see the header comment). Bytes: K*N/2 + 4*N*groups (+ 4*K
// for an act-order permutation).
struct W4Weight {
  int64_t K = 0, N = 0;
  int group_size = 0;
  const void* packed = nullptr;     // (N/16, K/64, 32 lanes) x 16 bytes
  const uint32_t* sz = nullptr;     // (groups, N): fp16 (1024 + zero) | fp16 scale << 16
  const int32_t* perm = nullptr;    // (K): input index read at packed position j; null if identity
  size_t bytes = 0;
};

// Host-side repack (exposed for tests): packed words and sz as uploaded; perm empty if identity.
struct W4Packed {
  std::vector<uint32_t> packed, sz;
  std::vector<int32_t> perm;
  int64_t K = 0, N = 0;
  int group_size = 0;
};
W4Packed w4_pack(const GptqView& g);
// Several Linears of the same input side by side along N (outputs in order); they must share K,
// the group size and the input order (w4_same_order), since one activation row feeds them all.
W4Packed w4_pack(const GptqView* parts, size_t n_parts);  // (pointer + count: the .cu files are C++17)
// True when a and b read their inputs in the same order after the act-order regrouping (same K,
// group size and g_idx, or both in natural order): then they can share one W4Weight.
bool w4_same_order(const GptqView& a, const GptqView& b);

W4Weight w4_upload(const GptqView& g, DeviceArena& arena, const Stream& s);
W4Weight w4_upload(const GptqView* parts, size_t n_parts, DeviceArena& arena, const Stream& s);

// y (M, N) (F32 or F16; += when accumulate) = x (M, K) fp16 W^T, M <= 64 per call (larger M is
// split into calls of 64). Rows of y start every ldy elements (0: N), so a weight can fill columns
// of a wider output. scratch: M*K halves, used only when the weight has a permutation.
void w4a16_matmul(const W4Weight& w, const void* x, int64_t M, DType y_t, void* y, bool accumulate, void* scratch,
                  cudaStream_t s, int64_t ldy = 0);

// Which kernel w4a16_matmul launches (benchmarks and tests compare them): 1 = one block of 8
// warps per 16 rows, weights scaled before the product; 2 = warps per block sized to the shape,
// persistent grid, loads double-buffered, x staged in shared memory for M <= 8, scale after the
// product, launched as a programmatic dependent launch; 3 (default) = kernel 3 for decode batches
// (M <= 8, M <= 2 when K > 4096; w4a16_v3.cu: each warp loads its whole slice of a tile at once,
// non-persistent grid), kernel 2 for the rest. Each hands what it does not run or ran slower on
// the H100 to the one before (groups below 128 / 64 inputs; M > 16 on 133..527 row tiles).
// Process-wide; not thread-safe against running matmuls.
void w4a16_select_kernel(int version);
int w4a16_kernel();

// out (N, K) fp16 = the dequantized weight, its input dimension in the packed (permuted) order:
// multiply with x permuted the same way (permute_cols).
void w4_dequantize(const W4Weight& w, void* out, cudaStream_t s);
// out (M, K) = x (M, K) with columns gathered by w.perm (a copy when there is none); fp16.
void permute_cols(const W4Weight& w, const void* x, int64_t M, void* out, cudaStream_t s);

}  // namespace si::cuda
