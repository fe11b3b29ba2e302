// quant/cuda/gptq_kernels.h — the small kernels of the GPTQ solve (gptq_kernels.cu), launched by
// gptq_hessian_cuda.cpp and gptq_solver_cuda.cpp. All pointers are device pointers; matrices are
// row-major unless a comment says column-major; each call is one launch on `s`.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace si::cuda::gptq {

// sum (n, n) += tmp (n, n) on the upper triangle (row-major; cuBLAS's lower, column-major).
void accumulate_upper(double* sum, const float* tmp, int64_t n, cudaStream_t s);
// h (n, n) = k * sum, both triangles, from sum's upper triangle.
void symmetrize(const double* sum, double k, int64_t n, double* h, cudaStream_t s);
// at (cols, rows) = a (rows, cols)^T
void transpose(const float* a, int64_t rows, int64_t cols, float* at, cudaStream_t s);
// y (n) = x (n) as fp32
void to_f32(const double* x, int64_t n, float* y, cudaStream_t s);
// Dead inputs (h[i][i] == 0): h[i][i] = 1, row i of wt (n, out) zeroed, dead[i] = 1, counted in *n_dead.
void mark_dead(double* h, float* wt, int64_t n, int64_t out, uint8_t* dead, int* n_dead, cudaStream_t s);
// hp (n, n) = h[perm[i]][perm[j]]; wp (n, out) row i = wt row perm[i].
void permute(const double* h, const float* wt, const int32_t* perm, int64_t n, int64_t out, double* hp, float* wp,
             cudaStream_t s);
// a (n, n) = J h J + lambda I (J reverses the order of rows and columns).
void reverse_damp(const double* h, int64_t n, double lambda, double* a, cudaStream_t s);
// a (n*n) reversed in place.
void reverse(double* a, int64_t n, cudaStream_t s);
// u (n, n) row-major = the upper triangle of column-major a, zeros below, as fp32.
void upper_f32(const double* a, int64_t n, float* u, cudaStream_t s);

// The quantization grid of the current group of each output row, and where found grids are kept.
struct Grid {
  int maxq = 15;
  bool sym = true, v1_zero = false;
  int64_t group_size = 128;   // <= 0: one grid for all columns, found beforehand (find_grid)
  float* scale = nullptr;     // (out) current grid
  float* zero = nullptr;      // (out)
  uint16_t* scales = nullptr; // (G, out) fp16 bits, written when a group starts
  int32_t* zeros = nullptr;   // (G, out)
};
// The grid of group g of every row from rows [k, k + n) of wt (in, out), stored in both places.
void find_grid(const float* wt, int64_t k, int64_t n, int64_t out, int64_t g, const Grid& grid, cudaStream_t s);

// Columns [i1, i1 + count) in processing order: quantize each, record codes qt (in, out) and
// dequantized values wqt (in, out), and (unless rtn) spread the scaled error e = (w - q) / U_kk over
// the block's later columns, store e in err (count, out) and add sum e^2 / 2 to *loss. wt (in, out)
// holds the columns with earlier blocks' updates; u (in, in) upper fp32 (unused with rtn).
void quantize_block(const float* wt, const float* u, int64_t in, int64_t out, int64_t i1, int count, const Grid& grid,
                    bool rtn, uint8_t* qt, float* wqt, float* err, double* loss, cudaStream_t s);

// q (out, in)[o][perm[k]] = qt (in, out)[k][o], and the same for wq from wqt.
void unpermute(const uint8_t* qt, const float* wqt, const int32_t* perm, int64_t in, int64_t out, uint8_t* q, float* wq,
               cudaStream_t s);
// *acc += sum over (o, i) of ((dead[i] ? 0 : w) - wq)^2 for w, wq (out, in).
void sq_diff(const float* w, const float* wq, const uint8_t* dead, int64_t out, int64_t in, double* acc, cudaStream_t s);
// *acc += sum a[k] * b[k] over n values.
void dot(const float* a, const float* b, int64_t n, double* acc, cudaStream_t s);
// d (n) = a - b
void sub(const float* a, const float* b, int64_t n, float* d, cudaStream_t s);

}  // namespace si::cuda::gptq
