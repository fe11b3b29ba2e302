// quant/gptq.h — GPTQ (Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers") for one Linear layer, as AutoGPTQ's quantization/gptq.py does it, and
// round-to-nearest (RTN) on the same grid for comparison.
//
//   si::GptqHessian h(in);                       // H = 2/n * sum x x^T over calibration rows
//   h.add(x, n_rows, n_samples_in_x);            // x (n_rows, in) fp32
//   si::GptqOptions o{.bits = 4, .group_size = 128, .desc_act = true};
//   si::GptqResult r = si::gptq_quantize(w, out, in, h, o);   // w (out, in) fp32, not modified
//   r.codes (packable, quant/gptq_pack.h); r.w (out, in) the dequantized weight; r.rel_err
//
// The algorithm: dead inputs (H_ii = 0) get H_ii = 1 and W[:, i] = 0; with desc_act the columns are
// processed in order of decreasing H_ii (act-order, recorded in g_idx); H += damp * mean(diag H) I;
// U = upper Cholesky factor of H^-1 (fp64 LAPACK: one Cholesky and one triangular inverse); then
// column by column: quantize, spread the error (w - q) / U_ii over the remaining columns of the
// block of 128 (lazy batch updates), and once per block over all later columns with one GEMM.
// Group scale / zero point are found when the first column of a group is reached, from the current
// (error-updated) weights, exactly where AutoGPTQ finds them (its outer W, which holds the updates
// of earlier blocks only).
//
// Two deliberate differences from AutoGPTQ: scales are rounded to fp16 before quantizing (the
// checkpoint stores fp16 scales; AutoGPTQ quantizes with fp32 scales and re-rounds at pack time),
// and, for v1 checkpoints, an asymmetric zero point of 0 is moved to 1 with the scale widened to
// cover the range (v1 stores zero - 1, which cannot hold -1). Ties in act-order sort by index.
#pragma once

#include <cstdint>
#include <vector>

#include "core/big_vector.h"
#include "core/thread_pool.h"
#include "quant/gptq_pack.h"

namespace si {

struct GptqOptions {
  int bits = 4;              // 4 or 8
  int group_size = 128;      // 32, 64, 128, ... or -1 (per-channel)
  bool desc_act = false;     // act-order
  bool sym = true;           // symmetric: zero = 2^(bits-1)
  double damp_percent = 0.01;  // AutoGPTQ's default (transformers' GPTQConfig defaults to 0.1)
  int block_size = 128;      // lazy batch width
  bool v1_zero = true;       // keep zero points >= 1 (writable in the v1 "gptq" format)
  bool measure = true;       // compute err (free for GPTQ, see gptq.cpp) and ref (one GEMM of in x in x out)
};

// Running H = 2/n * sum_rows x x^T, accumulated in fp64 (rows are multiplied in fp32 chunks, the
// upper triangle by blocks of columns on ops/cpu/sgemm, then added); n counts calibration samples,
// as AutoGPTQ's add_batch does. With a pool the blocks run on it (the same H for any pool size).
class GptqHessian {
 public:
  explicit GptqHessian(int64_t in);
  void add(const float* x, int64_t n_rows, int64_t n_samples = 1, ThreadPool* pool = nullptr);  // x (n_rows, in)
  int64_t in() const { return in_; }
  int64_t samples() const { return n_; }
  // H (in, in) row-major, symmetric, scaled by 2 / samples.
  big_vector<double> matrix() const;
  // The same with H = identity (tests): n = 1 and sum x x^T = I / 2.
  static GptqHessian identity(int64_t in);

 private:
  int64_t in_ = 0, n_ = 0;
  big_vector<double> s_;  // (in, in) sum x x^T, upper triangle filled
  big_vector<float> tmp_; // (in, in) one chunk's fp32 product
};

struct GptqResult {
  GptqUnpacked codes;        // codes, zero points, fp16 scales, g_idx
  big_vector<float> w;       // (out, in) the dequantized weight, scales[g] * (q - zero)
  double loss = 0;           // AutoGPTQ's "avg loss" times samples: sum (w - q)^2 / U_ii^2 / 2
  double err = 0;            // tr((W - Q) H (W - Q)^T) = 2/n ||W X - Q X||^2 (with measure)
  double ref = 0;            // tr(W H W^T) = 2/n ||W X||^2
  double rel_err() const { return ref > 0 ? err / ref : 0; }
  double damp = 0;           // damp_percent actually used (raised when H + damp I was not positive definite)
  int64_t dead = 0;          // inputs with H_ii = 0
  double seconds = 0;
  double factor_seconds = 0; // of which the Cholesky factor of H^-1
};

// w (out, in) row-major fp32; h from calibration. Throws si::Error on bad options. The matrix
// products run on `pool` when given (results do not depend on its size).
GptqResult gptq_quantize(const float* w, int64_t out, int64_t in, const GptqHessian& h, const GptqOptions& o,
                         ThreadPool* pool = nullptr);
// Round-to-nearest on the same per-group grid (no error feedback, natural column order). With a
// Hessian, err / ref are measured the same way.
GptqResult rtn_quantize(const float* w, int64_t out, int64_t in, const GptqOptions& o, const GptqHessian* h = nullptr,
                        ThreadPool* pool = nullptr);

// tr(D H D^T) for D (out, in) fp32 and H (in, in) fp64 (converted to fp32 for the GEMM).
double gptq_quadratic_error(const float* d, int64_t out, int64_t in, const double* h, ThreadPool* pool = nullptr);

}  // namespace si
