// ops/cpu/sgemm.cpp — see sgemm.h. The blocking follows BLIS (Van Zee & van de Geijn, 2015), less
// the packing of A:
//   for jc over N in NC columns:
//     for pc over K in KC steps:          B panel (KC, NC) packed once per (jc, pc): L2
//       for ir over M in MR rows:         A micro-panel (MR, KC) read in place: L1
//         for jr over the NR-column micro-panels of B:   kernel: C tile (MR, NR) in registers
// A is read where it lies (its rows, or with trans_a its columns, are contiguous): at the
// trainer's shapes, packing it cost about a third of the kernel's time. Partial panels are
// zero-padded (B when packed, the last rows of A into a small buffer), so the kernel has no edge
// cases: a partial C tile is computed into a local tile and added into C.
#include "ops/cpu/sgemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/error.h"
#include "core/thread_pool.h"

namespace si::cpu {
namespace {

// Packing buffers: one set per thread (the trainer calls sgemm from its pool's tasks), grown on
// demand, 64-byte aligned for the kernels' vector loads.
struct PackBuffers {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> a, b;  // the last rows of A, the B panel
  size_t a_floats = 0, b_floats = 0;

  static float* grow(std::unique_ptr<float, Free>& p, size_t& have, size_t need) {
    if (need > have) {
      const size_t bytes = (need * sizeof(float) + 63) / 64 * 64;
      p.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      SI_CHECK(p != nullptr, "sgemm: out of memory for a {} byte packing buffer", bytes);
      have = need;
    }
    return p.get();
  }
};

// dst (kc, mr), k-major := op(A)[i0 : i0 + rows, p0 : p0 + kc]; rows past `rows` are zeros (the
// last, partial micro-panel of A).
void pack_a_tail(bool trans, const float* A, int64_t lda, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr,
                 float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * mr;
    for (int64_t r = 0; r < rows; ++r) d[r] = trans ? A[(p0 + k) * lda + i0 + r] : A[(i0 + r) * lda + p0 + k];
    for (int64_t r = rows; r < mr; ++r) d[r] = 0.0f;
  }
}

// dst (panels of nr columns, each kc x nr, k-major) := op(B)[p0 : p0 + kc, j0 : j0 + nc]; columns
// past nc are zeros.
void pack_b(const SgemmKernel& kern, bool trans, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
            int64_t nc, float* dst) {
  const int nr = kern.nr;
  for (int64_t jp = 0; jp < nc; jp += nr) {
    const int64_t cols = std::min<int64_t>(nr, nc - jp);
    if (trans && cols == nr && kern.pack_b_trans) {
      kern.pack_b_trans(kc, B + (j0 + jp) * ldb + p0, ldb, dst);
    } else if (trans) {  // op(B)(k, j) = B[j * ldb + k]: walk each source row once, write with stride nr
      for (int64_t c = 0; c < cols; ++c) {
        const float* s = B + (j0 + jp + c) * ldb + p0;
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = s[k];
      }
      for (int64_t c = cols; c < nr; ++c)
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = 0.0f;
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = B + (p0 + k) * ldb + j0 + jp;
        float* d = dst + k * nr;
        for (int64_t c = 0; c < cols; ++c) d[c] = s[c];
        for (int64_t c = cols; c < nr; ++c) d[c] = 0.0f;
      }
    }
    dst += kc * nr;
  }
}

// C *= beta (beta == 0: C := 0 without reading it).
void scale_c(float beta, int64_t M, int64_t N, float* C, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) std::fill(c, c + N, 0.0f);
    else
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

constexpr int kScalarMr = 4, kScalarNr = 4;

// A(r, k) = a[r * rs + k * cs]
void kernel_scalar(int64_t kc, const float* a, int64_t rs, int64_t cs, const float* b, float alpha, float* c,
                   int64_t ldc) {
  float acc[kScalarMr][kScalarNr] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int r = 0; r < kScalarMr; ++r)
      for (int j = 0; j < kScalarNr; ++j) acc[r][j] += a[r * rs + k * cs] * b[k * kScalarNr + j];
  for (int r = 0; r < kScalarMr; ++r)
    for (int j = 0; j < kScalarNr; ++j) c[r * ldc + j] += alpha * acc[r][j];
}
void kernel_scalar_rows(int64_t kc, const float* a, int64_t lda, const float* b, float alpha, float* c, int64_t ldc) {
  kernel_scalar(kc, a, lda, 1, b, alpha, c, ldc);
}
void kernel_scalar_cols(int64_t kc, const float* a, int64_t lda, const float* b, float alpha, float* c, int64_t ldc) {
  kernel_scalar(kc, a, 1, lda, b, alpha, c, ldc);
}

const SgemmKernel kScalar{kScalarMr, kScalarNr, kernel_scalar_rows, kernel_scalar_cols, nullptr};

}  // namespace

const SgemmKernel& sgemm_kernel_scalar() { return kScalar; }

const SgemmKernel& sgemm_kernel(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return sgemm_kernel_avx512();
    case Isa::Avx2: return sgemm_kernel_avx2();
    case Isa::Scalar: break;
  }
  return sgemm_kernel_scalar();
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  SI_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm: negative shape M={} N={} K={}", M, N, K);
  SI_CHECK(ldc >= std::max<int64_t>(N, 1) && lda >= std::max<int64_t>(trans_a ? M : K, 1) &&
               ldb >= std::max<int64_t>(trans_b ? K : N, 1),
           "sgemm: a leading dimension is smaller than its row (lda={} ldb={} ldc={})", lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  scale_c(beta, M, N, C, ldc);
  if (K == 0 || alpha == 0.0f) return;

  const SgemmKernel& kern = sgemm_kernel(isa_active());
  const int mr = kern.mr, nr = kern.nr;
  // The B micro-panel (KC, NR) takes 16 KiB of L1, the B panel (KC, NC) 512 KiB-1 MiB of L2.
  const int64_t KC = 4096 / nr;
  const int64_t NC = 1024;

  thread_local PackBuffers buf;
  float* pa = PackBuffers::grow(buf.a, buf.a_floats, size_t(mr * KC));
  float* pb = PackBuffers::grow(buf.b, buf.b_floats, size_t((NC + nr) * KC));
  alignas(64) float tile[16 * 64];  // a partial C tile
  SI_CHECK(mr * nr <= 16 * 64, "sgemm: micro-kernel tile {}x{} too large", mr, nr);

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      pack_b(kern, trans_b, B, ldb, pc, kc, jc, nc, pb);
      for (int64_t ir = 0; ir < M; ir += mr) {
        const int64_t rows = std::min<int64_t>(mr, M - ir);
        auto run = trans_a ? kern.run_cols : kern.run_rows;
        const float* a = trans_a ? A + pc * lda + ir : A + ir * lda + pc;
        int64_t la = lda;
        if (rows < mr) {
          pack_a_tail(trans_a, A, lda, ir, rows, pc, kc, mr, pa);
          run = kern.run_cols, a = pa, la = mr;
        }
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t cols = std::min<int64_t>(nr, nc - jr);
          const float* b = pb + (jr / nr) * kc * nr;
          float* c = C + ir * ldc + jc + jr;
          if (rows == mr && cols == nr) {
            run(kc, a, la, b, alpha, c, ldc);
            continue;
          }
          std::fill(tile, tile + mr * nr, 0.0f);
          run(kc, a, la, b, alpha, tile, nr);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] += tile[r * nr + j];
        }
      }
    }
  }
}

void sgemm_rows(ThreadPool& pool, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  // Tiles of 480 rows x 1024 columns (one B panel width, NC in sgemm): sgemm reads A in place
  // once per B panel, so a tile's A rows (480 x K) are read from cache, not memory, for each of
  // C's column blocks.
  constexpr int64_t kRows = 480, kCols = 1024;
  const int64_t rb = (M + kRows - 1) / kRows, cb = (N + kCols - 1) / kCols;
  pool.parallel_for(rb * cb, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = (t / cb) * kRows, c0 = (t % cb) * kCols;
      const int64_t m = std::min(kRows, M - r0), n = std::min(kCols, N - c0);
      // Rows r0.. of op(A): rows of A, or (transposed) its columns; columns c0.. of op(B) likewise.
      const float* a = trans_a ? A + r0 : A + r0 * lda;
      const float* b = trans_b ? B + c0 * ldb : B + c0;
      sgemm(trans_a, trans_b, m, n, K, alpha, a, lda, b, ldb, beta, C + r0 * ldc + c0, ldc);
    }
  });
}

}  // namespace si::cpu
