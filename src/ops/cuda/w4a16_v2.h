// ops/cuda/w4a16_v2.h — the second W4A16 kernel (internal to w4a16.cu's dispatch; see w4a16.h for
// the public op and w4a16_v2.cu for the design).
#pragma once

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "ops/cuda/w4a16.h"

namespace si::cuda::v2 {

// Launches the kernel for M <= 64 rows when it handles this weight and shape (groups of >= 64
// inputs; for M <= 8, x fitting in shared memory; see go_nb in the .cu); returns false (nothing
// launched) otherwise.
// y: float or __half (both instantiated in the .cu).
template <typename Ty>
bool launch(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, cudaStream_t s);

// Benchmarks: warps per block (4, 8 or 16; 0 = chosen from the shape, see the .cu).
void force_warps(int warps);

}  // namespace si::cuda::v2
