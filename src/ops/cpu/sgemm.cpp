// ops/cpu/sgemm.cpp — see sgemm.h. The blocking follows BLIS (Van Zee & van de
// Geijn, 2015):
//   for jc over N in NC columns:          B panel (KC, NC) packed once per (jc,
//   pc): L2/L3
//     for pc over K in KC steps:
//       for ic over M in MC rows:         A block (MC, KC) packed: L2
//         for jr over the NR-column micro-panels of B:   (KC, NR) stays in L1
//           for ir over the MR-row micro-panels of A:    kernel: C tile (MR,
//           NR) in registers
// Packing reads op(A) and op(B) through their strides, so one micro-kernel
// serves all four transpose cases, and pads partial panels with zeros, so the
// kernel has no edge cases: a partial C tile is computed into a local tile and
// added into C.
#include "ops/cpu/sgemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/error.h"

namespace si::cpu {
namespace {

// Packing buffers: one pair per thread (the trainer calls sgemm from its pool's
// tasks), grown on demand, 64-byte aligned for the kernels' vector loads.
struct PackBuffers {
  struct Free {
    void operator()(float *p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> a, b;
  size_t a_floats = 0, b_floats = 0;

  static float *grow(std::unique_ptr<float, Free> &p, size_t &have, size_t need) {
    if (need > have) {
      const size_t bytes = (need * sizeof(float) + 63) / 64 * 64;
      p.reset(static_cast<float *>(std::aligned_alloc(64, bytes)));
      SI_CHECK(p != nullptr, "sgemm: out of memory for a {} byte packing buffer", bytes);
      have = need;
    }
    return p.get();
  }
};

// dst (panels of mr rows, each kc x mr, k-major) := alpha * op(A)[i0 : i0 + mc,
// p0 : p0 + kc]; rows past mc are zeros.
void pack_a(bool trans, const float *A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float alpha,
            int mr, float *dst) {
  for (int64_t ip = 0; ip < mc; ip += mr) {
    const int64_t rows = std::min<int64_t>(mr, mc - ip);
    for (int64_t k = 0; k < kc; ++k) {
      float *d = dst + k * mr;
      if (trans) {  // op(A)(i, k) = A[k * lda + i]: the mr values are contiguous
        const float *s = A + (p0 + k) * lda + i0 + ip;
        for (int64_t r = 0; r < rows; ++r) d[r] = alpha * s[r];
      } else {
        const float *s = A + (i0 + ip) * lda + p0 + k;
        for (int64_t r = 0; r < rows; ++r) d[r] = alpha * s[r * lda];
      }
      for (int64_t r = rows; r < mr; ++r) d[r] = 0.0f;
    }
    dst += kc * mr;
  }
}

// dst (panels of nr columns, each kc x nr, k-major) := op(B)[p0 : p0 + kc, j0 :
// j0 + nc]; columns past nc are zeros.
void pack_b(bool trans, const float *B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
            float *dst) {
  for (int64_t jp = 0; jp < nc; jp += nr) {
    const int64_t cols = std::min<int64_t>(nr, nc - jp);
    if (trans) {  // op(B)(k, j) = B[j * ldb + k]: walk each source row once,
                  // write with stride nr
      for (int64_t c = 0; c < cols; ++c) {
        const float *s = B + (j0 + jp + c) * ldb + p0;
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = s[k];
      }
      for (int64_t c = cols; c < nr; ++c)
        for (int64_t k = 0; k < kc; ++k) dst[k * nr + c] = 0.0f;
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float *s = B + (p0 + k) * ldb + j0 + jp;
        float *d = dst + k * nr;
        for (int64_t c = 0; c < cols; ++c) d[c] = s[c];
        for (int64_t c = cols; c < nr; ++c) d[c] = 0.0f;
      }
    }
    dst += kc * nr;
  }
}

// C *= beta (beta == 0: C := 0 without reading it).
void scale_c(float beta, int64_t M, int64_t N, float *C, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < M; ++i) {
    float *c = C + i * ldc;
    if (beta == 0.0f)
      std::fill(c, c + N, 0.0f);
    else
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

void kernel_scalar(int64_t kc, const float *a, const float *b, float *c, int64_t ldc) {
  constexpr int MR = 4, NR = 4;
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] += a[k * MR + r] * b[k * NR + j];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) c[r * ldc + j] += acc[r][j];
}

const SgemmKernel kScalar{4, 4, kernel_scalar};

}  // namespace

const SgemmKernel &sgemm_kernel_scalar() { return kScalar; }

const SgemmKernel &sgemm_kernel(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return sgemm_kernel_avx512();
    case Isa::Avx2:
      return sgemm_kernel_avx2();
    case Isa::Scalar:
      break;
  }
  return sgemm_kernel_scalar();
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  SI_CHECK(M >= 0 && N >= 0 && K >= 0, "sgemm: negative shape M={} N={} K={}", M, N, K);
  SI_CHECK(ldc >= std::max<int64_t>(N, 1) && lda >= std::max<int64_t>(trans_a ? M : K, 1) &&
               ldb >= std::max<int64_t>(trans_b ? K : N, 1),
           "sgemm: a leading dimension is smaller than its row (lda={} ldb={} "
           "ldc={})",
           lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  scale_c(beta, M, N, C, ldc);
  if (K == 0 || alpha == 0.0f) return;

  const SgemmKernel &kern = sgemm_kernel(isa_active());
  const int mr = kern.mr, nr = kern.nr;
  // The B micro-panel (KC, NR) takes 16 KiB, half of a 32 KiB L1; the A block
  // (MC, KC) 48-96 KiB of L2; the B panel (KC, NC) 512 KiB-1 MiB.
  const int64_t KC = 4096 / nr;
  const int64_t MC = 192 / mr * mr;
  const int64_t NC = 1024;

  thread_local PackBuffers buf;
  float *pa = PackBuffers::grow(buf.a, buf.a_floats, size_t(MC * KC));
  float *pb = PackBuffers::grow(buf.b, buf.b_floats, size_t((NC + nr) * KC));
  alignas(64) float tile[16 * 64];  // a partial C tile (mr * nr <= 1024)
  SI_CHECK(mr * nr <= 16 * 64, "sgemm: micro-kernel tile {}x{} too large", mr, nr);

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      pack_b(trans_b, B, ldb, pc, kc, jc, nc, nr, pb);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        pack_a(trans_a, A, lda, ic, mc, pc, kc, alpha, mr, pa);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t cols = std::min<int64_t>(nr, nc - jr);
          const float *b = pb + (jr / nr) * kc * nr;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int64_t rows = std::min<int64_t>(mr, mc - ir);
            const float *a = pa + (ir / mr) * kc * mr;
            float *c = C + (ic + ir) * ldc + jc + jr;
            if (rows == mr && cols == nr) {
              kern.run(kc, a, b, c, ldc);
              continue;
            }
            std::fill(tile, tile + mr * nr, 0.0f);
            kern.run(kc, a, b, tile, nr);
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] += tile[r * nr + j];
          }
        }
      }
    }
  }
}

}  // namespace si::cpu
