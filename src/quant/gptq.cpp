#include "quant/gptq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <numeric>

#include "ops/cpu/sgemm.h"

#include "core/error.h"
#include "core/half.h"

// LAPACK (OpenBLAS ships it): Cholesky factorisation and inverse from the factor. The trailing
// argument is the hidden Fortran string length; C implementations ignore it.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info, size_t uplo_len,
             size_t diag_len);
}

namespace si {

GptqHessian::GptqHessian(int64_t in) : in_(in), s_(size_t(in * in), 0.0) {}

GptqHessian GptqHessian::identity(int64_t in) {
  GptqHessian h(in);
  h.n_ = 1;
  for (int64_t i = 0; i < in; ++i) h.s_[size_t(i * in + i)] = 0.5;
  return h;
}

void GptqHessian::add(const float* x, int64_t n_rows, int64_t n_samples, ThreadPool* pool) {
  // fp32 products over chunks of rows, summed in fp64: the sum over thousands of tokens is where
  // fp32 would lose digits. Of each chunk's X^T X only the upper triangle is made, as column
  // blocks: block b is rows [0, j1) of columns [j0, j1), one sgemm; the blocks go round-robin to
  // the pool's threads (their work grows with b). On 2 threads against OpenBLAS's ssyrk (Haswell
  // kernels, 2 threads), 4096 rows: 1.45x at in = 8192, the same at 2048 (transposing the chunk
  // first, to read it row by row, was slower).
  constexpr int64_t kChunk = 4096, kCols = 256;
  tmp_.resize(size_t(in_ * in_));  // kept: one allocation for every add()
  float* tmp = tmp_.data();
  const int64_t blocks = (in_ + kCols - 1) / kCols;
  const int threads = pool ? pool->size() : 1;
  auto over_threads = [&](const std::function<void(int)>& fn) {
    if (pool) pool->parallel_for(threads, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) fn(int(t));
    });
    else fn(0);
  };
  for (int64_t r0 = 0; r0 < n_rows; r0 += kChunk) {
    const int64_t n = std::min(kChunk, n_rows - r0);
    const float* xc = x + r0 * in_;
    over_threads([&](int t) {
      for (int64_t b = t; b < blocks; b += threads) {
        const int64_t j0 = b * kCols, j1 = std::min(in_, j0 + kCols);
        cpu::sgemm(true, false, j1, j1 - j0, n, 1.0f, xc, in_, xc + j0, in_, 0.0f, tmp + j0, in_);
      }
    });
    over_threads([&](int t) {
      for (int64_t i = t; i < in_; i += threads)
        for (int64_t j = i; j < in_; ++j) s_[size_t(i * in_ + j)] += double(tmp[size_t(i * in_ + j)]);
    });
  }
  n_ += n_samples;
}

big_vector<double> GptqHessian::matrix() const {
  SI_CHECK(n_ > 0, "GPTQ: no calibration data was added to the Hessian");
  big_vector<double> h(s_.size());
  const double k = 2.0 / double(n_);
  for (int64_t i = 0; i < in_; ++i)
    for (int64_t j = i; j < in_; ++j) h[size_t(i * in_ + j)] = h[size_t(j * in_ + i)] = k * s_[size_t(i * in_ + j)];
  return h;
}

namespace {

// AutoGPTQ's Quantizer for one group: per output row, the grid from min/max (including 0).
struct Grid {
  int maxq;
  bool sym, v1_zero;
  std::vector<float> scale, zero;  // (out)

  static Grid for_options(const GptqOptions& o) { return Grid{(1 << o.bits) - 1, o.sym, o.v1_zero && !o.sym, {}, {}}; }

  // x (n, out) rows of Wt: the group's inputs.
  void find(const float* x, int64_t n, int64_t out) {
    scale.resize(size_t(out));
    zero.resize(size_t(out));
    for (int64_t o = 0; o < out; ++o) {
      float xmin = 0, xmax = 0;
      for (int64_t r = 0; r < n; ++r) {
        xmin = std::min(xmin, x[r * out + o]);
        xmax = std::max(xmax, x[r * out + o]);
      }
      if (sym) {
        xmax = std::max(std::fabs(xmin), xmax);
        if (xmin < 0) xmin = -xmax;
      }
      if (xmin == 0 && xmax == 0) xmin = -1, xmax = 1;
      float s = to_f16_scale((xmax - xmin) / float(maxq));
      float z = sym ? float((maxq + 1) / 2) : std::clamp(std::nearbyint(-xmin / s), 0.0f, float(maxq));
      if (!sym && v1_zero && z < 1) {  // v1 cannot store zero 0: use zero 1 and a grid reaching xmax
        z = 1;
        s = to_f16_scale(xmax / float(maxq - 1));
      }
      scale[size_t(o)] = s;
      zero[size_t(o)] = z;
    }
  }
  static float to_f16_scale(float s) {
    uint16_t h = f32_to_f16(s);
    if ((h & 0x7FFF) == 0) h = 1;                 // underflow: smallest subnormal, never a zero scale
    if ((h & 0x7C00) == 0x7C00) h = 0x7BFF;       // overflow: largest finite
    return f16_to_f32(h);
  }
  float code(float x, int64_t o) const {
    return std::clamp(std::nearbyint(x / scale[size_t(o)]) + zero[size_t(o)], 0.0f, float(maxq));
  }
};

void check_options(const GptqOptions& o, int64_t out, int64_t in) {
  GptqLayout{o.bits, o.group_size, in, out}.validate("GPTQ");
  SI_CHECK(o.damp_percent > 0 && o.damp_percent < 1, "GPTQ: damp_percent {} must be in (0, 1)", o.damp_percent);
  SI_CHECK(o.block_size > 0, "GPTQ: block_size {} must be positive", o.block_size);
}

// Wt (in, out) of W (out, in): column i of W is the contiguous row i, as the solve walks inputs.
big_vector<float> transposed(const float* w, int64_t out, int64_t in) {
  big_vector<float> wt(size_t(in * out));
  for (int64_t oo = 0; oo < out; ++oo)
    for (int64_t i = 0; i < in; ++i) wt[size_t(i * out + oo)] = w[oo * in + i];
  return wt;
}

GptqUnpacked empty_codes(const GptqOptions& o, int64_t out, int64_t in) {
  GptqUnpacked u;
  u.layout = GptqLayout{o.bits, o.group_size, in, out};
  const int64_t G = u.layout.n_groups();
  u.q.resize(size_t(out * in));
  u.zero.resize(size_t(G * out));
  u.scale.resize(size_t(G * out));
  u.g_idx.resize(size_t(in));
  return u;
}

void store_group(GptqUnpacked& u, const Grid& grid, int64_t g, int64_t out) {
  for (int64_t o = 0; o < out; ++o) {
    u.zero[size_t(g * out + o)] = int32_t(grid.zero[size_t(o)]);
    u.scale[size_t(g * out + o)] = f32_to_f16(grid.scale[size_t(o)]);
  }
}

// The upper Cholesky factor U of (H + lambda I)^-1 (U^T U = (H + lambda I)^-1, positive diagonal: what
// AutoGPTQ gets from cholesky, cholesky_inverse, cholesky(upper=True)) as fp32 (in, in), with
// lambda = damp_percent * mean(diag H); raises damp_percent until the matrix is positive definite.
//
// One factorisation and one triangular inverse instead of three factorisations: with J the
// reversal permutation, J H J = L L^T gives H = R R^T with R = J L J upper, so H^-1 = R^-T R^-1 and
// U = R^-1. In memory, R stored column-major is L stored column-major read backwards.
big_vector<float> inverse_cholesky_upper(const big_vector<double>& h, int64_t in, double& damp_percent, double& lambda) {
  double mean = 0;
  for (int64_t i = 0; i < in; ++i) mean += h[size_t(i * in + i)];
  mean /= double(in);
  const int n = int(in);
  const size_t nn = size_t(in * in);
  big_vector<double> a(nn);
  for (;;) {
    lambda = damp_percent * mean;
    for (size_t k = 0; k < nn; ++k) a[k] = h[nn - 1 - k];  // J H J (symmetric: layout-free)
    for (int64_t i = 0; i < in; ++i) a[size_t(i * in + i)] += lambda;
    int info = 0;
    dpotrf_("L", &n, a.data(), &n, &info, 1);
    if (info == 0) {
      std::reverse(a.begin(), a.end());  // R, column-major upper
      dtrtri_("U", "N", &n, a.data(), &n, &info, 1, 1);
    }
    if (info == 0) break;
    SI_CHECK(damp_percent + 0.01 < 1, "GPTQ: the Hessian is not positive definite even with damp_percent {:.2f}",
             damp_percent);
    damp_percent += 0.01;
  }
  big_vector<float> u(nn, 0.0f);  // row-major: U[i][j] is column-major element (i, j) at j * n + i
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = i; j < in; ++j) u[size_t(i * in + j)] = float(a[size_t(j * in + i)]);
  return u;
}

void measure(GptqResult& r, const float* w, int64_t out, int64_t in, const double* h, ThreadPool* pool) {
  big_vector<float> d(size_t(out * in));
  for (size_t k = 0; k < d.size(); ++k) d[k] = w[k] - r.w[k];
  r.err = gptq_quadratic_error(d.data(), out, in, h, pool);
  r.ref = gptq_quadratic_error(w, out, in, h, pool);
}

// C = alpha op(A) op(B) + beta C on the pool when there is one (cpu::sgemm's arguments).
void matmul(ThreadPool* pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
            int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (pool) cpu::sgemm_rows(*pool, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else cpu::sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double gptq_quadratic_error(const float* d, int64_t out, int64_t in, const double* h, ThreadPool* pool) {
  big_vector<float> hf(h, h + in * in);
  constexpr int64_t kRows = 960;  // (kRows, in) of D H at a time: four 240-row blocks for a pool
  big_vector<float> t(size_t(kRows * in));
  double e = 0;
  for (int64_t r0 = 0; r0 < out; r0 += kRows) {
    const int64_t n = std::min(kRows, out - r0);
    matmul(pool, false, false, n, in, in, 1.0f, d + r0 * in, in, hf.data(), in, 0.0f, t.data(), in);
    for (int64_t k = 0; k < n * in; ++k) e += double(d[r0 * in + k]) * double(t[size_t(k)]);
  }
  return e;
}

GptqResult gptq_quantize(const float* w, int64_t out, int64_t in, const GptqHessian& hess, const GptqOptions& o,
                         ThreadPool* pool) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o, out, in);
  SI_CHECK(hess.in() == in, "GPTQ: Hessian is {} x {}, the layer has {} inputs", hess.in(), hess.in(), in);
  GptqResult r;
  r.codes = empty_codes(o, out, in);
  const int64_t gs = o.group_size < 0 ? in : o.group_size;
  Grid grid = Grid::for_options(o);
  big_vector<float> wt = transposed(w, out, in);
  // Per-channel: AutoGPTQ finds the grid once, from W as given (before dead columns are zeroed).
  if (o.group_size < 0) {
    grid.find(wt.data(), in, out);
    store_group(r.codes, grid, 0, out);
  }

  big_vector<double> h = hess.matrix();
  if (o.measure) r.ref = gptq_quadratic_error(w, out, in, h.data(), pool);
  std::vector<uint8_t> dead(static_cast<size_t>(in), 0);
  for (int64_t i = 0; i < in; ++i)
    if (h[size_t(i * in + i)] == 0) {
      dead[size_t(i)] = 1;
      h[size_t(i * in + i)] = 1;
      std::fill(wt.begin() + i * out, wt.begin() + (i + 1) * out, 0.0f);
      r.dead++;
    }
  std::vector<int64_t> perm(static_cast<size_t>(in));
  std::iota(perm.begin(), perm.end(), 0);
  if (o.desc_act) {
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return h[size_t(a * in + a)] > h[size_t(b * in + b)]; });
    big_vector<double> hp(h.size());
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < in; ++j) hp[size_t(i * in + j)] = h[size_t(perm[size_t(i)] * in + perm[size_t(j)])];
    h.swap(hp);
    big_vector<float> wp(wt.size());
    for (int64_t i = 0; i < in; ++i)
      std::copy_n(wt.begin() + perm[size_t(i)] * out, out, wp.begin() + i * out);
    wt.swap(wp);
  }
  r.damp = o.damp_percent;
  double lambda = 0;
  const auto t_factor = std::chrono::steady_clock::now();
  const big_vector<float> u = inverse_cholesky_upper(h, in, r.damp, lambda);
  r.factor_seconds = seconds_since(t_factor);
  // ||W' - Q||^2 (W' = W with dead inputs zeroed) for the error identity below.
  double dw2 = 0;
  h.clear();
  h.shrink_to_fit();

  r.w.assign(size_t(out * in), 0.0f);
  std::vector<float> w1, err1;
  for (int64_t i1 = 0; i1 < in; i1 += o.block_size) {
    const int64_t i2 = std::min(i1 + int64_t(o.block_size), in), count = i2 - i1;
    w1.assign(wt.begin() + i1 * out, wt.begin() + i2 * out);  // (count, out), updated inside the block
    err1.assign(size_t(count * out), 0.0f);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t k = i1 + i;  // position in processing order
      if (o.group_size > 0 && k % gs == 0) {
        // From wt (earlier blocks' updates applied, this block's not), as AutoGPTQ reads its outer W.
        grid.find(wt.data() + k * out, std::min(gs, in - k), out);
        store_group(r.codes, grid, k / gs, out);
      }
      const float d = u[size_t(k * in + k)];
      const int64_t col = perm[size_t(k)];
      float* wi = w1.data() + i * out;
      float* ei = err1.data() + i * out;
      for (int64_t oo = 0; oo < out; ++oo) {
        const float c = grid.code(wi[oo], oo);
        const float q = grid.scale[size_t(oo)] * (c - grid.zero[size_t(oo)]);
        r.codes.q[size_t(oo * in + col)] = uint8_t(c);
        r.w[size_t(oo * in + col)] = q;
        const float e = (wi[oo] - q) / d;
        r.loss += 0.5 * double(e) * double(e);
        const double dw = (dead[size_t(col)] ? 0.0 : double(w[oo * in + col])) - double(q);
        dw2 += dw * dw;
        ei[oo] = e;
      }
      for (int64_t j = i + 1; j < count; ++j) {
        const float uij = u[size_t(k * in + i1 + j)];
        float* wj = w1.data() + j * out;
        for (int64_t oo = 0; oo < out; ++oo) wj[oo] -= uij * ei[oo];
      }
    }
    // Lazy batch update: Wt[i2:] -= U[i1:i2, i2:]^T Err1.
    if (i2 < in)
      matmul(pool, true, false, in - i2, out, count, -1.0f, u.data() + i1 * in + i2, in, err1.data(), out, 1.0f,
             wt.data() + i2 * out, out);
  }
  // g_idx: the group of original input i is (its position in processing order) / group_size.
  for (int64_t k = 0; k < in; ++k) r.codes.g_idx[size_t(perm[size_t(k)])] = int32_t(o.group_size < 0 ? 0 : k / gs);
  // W' - Q = E U with E the scaled errors (w - q) / U_kk, so (W' - Q)(H + lambda I)(W' - Q)^T =
  // E U (U^T U)^-1 U^T E^T = E E^T: the error needs no GEMM, tr = sum e^2 = 2 loss. Dead inputs add
  // nothing (their weights and codes are 0).
  if (o.measure) r.err = std::max(0.0, 2.0 * r.loss - lambda * dw2);
  r.seconds = seconds_since(t0);
  return r;
}

GptqResult rtn_quantize(const float* w, int64_t out, int64_t in, const GptqOptions& o, const GptqHessian* hess,
                        ThreadPool* pool) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o, out, in);
  GptqResult r;
  r.codes = empty_codes(o, out, in);
  const int64_t gs = o.group_size < 0 ? in : o.group_size;
  Grid grid = Grid::for_options(o);
  const big_vector<float> wt = transposed(w, out, in);
  r.w.assign(size_t(out * in), 0.0f);
  for (int64_t g0 = 0; g0 < in; g0 += gs) {
    const int64_t n = std::min(gs, in - g0);
    grid.find(wt.data() + g0 * out, n, out);
    store_group(r.codes, grid, g0 / gs, out);
    for (int64_t i = g0; i < g0 + n; ++i) {
      r.codes.g_idx[size_t(i)] = int32_t(g0 / gs);
      for (int64_t oo = 0; oo < out; ++oo) {
        const float c = grid.code(wt[size_t(i * out + oo)], oo);
        r.codes.q[size_t(oo * in + i)] = uint8_t(c);
        r.w[size_t(oo * in + i)] = grid.scale[size_t(oo)] * (c - grid.zero[size_t(oo)]);
      }
    }
  }
  if (hess && o.measure) {
    SI_CHECK(hess->in() == in, "RTN: Hessian is {} x {}, the layer has {} inputs", hess->in(), hess->in(), in);
    measure(r, w, out, in, hess->matrix().data(), pool);
  }
  r.seconds = seconds_since(t0);
  return r;
}

}  // namespace si
