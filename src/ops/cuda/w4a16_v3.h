// ops/cuda/w4a16_v3.h — the third W4A16 kernel, for decode batches (internal to w4a16.cu's dispatch;
// see w4a16.h for the public op and w4a16_v3.cu for the design).
#pragma once

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "ops/cuda/w4a16.h"

namespace si::cuda::v3 {

// Launches the kernel when it handles this weight and shape (groups of 128 inputs or a multiple;
// M up to auto_rows, or up to 16 when forced; x fitting in shared memory); returns false (nothing
// launched) otherwise.
// y: float or __half (both instantiated in the .cu).
template <typename Ty>
bool launch(const W4Weight& w, const __half* x, int M, Ty* y, int64_t ldy, bool accumulate, cudaStream_t s);

// Benchmarks: 64-input chunks per warp (2, 4 or 8; 0 = chosen from the shape). Forced, the kernel
// also takes 9..16 rows.
void force_split(int s);
// Benchmarks: the largest M it takes when not forced (default 8).
void auto_rows(int m);
// Benchmarks, bits: 2 = x staged in shared memory also where S = 2 and M <= 8 (there each lane
// loads its x fragments into registers by default); 4 = dynamic shared memory padded to 120 KB,
// so one block per SM (a diagnostic: does the next call's prologue overlap this one?).
void force_variant(int v);

}  // namespace si::cuda::v3
