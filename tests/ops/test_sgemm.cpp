// The trainer's sgemm (ops/cpu/sgemm.h) against a double-precision triple loop,
// on every ISA path, all four transpose cases, shapes with tails of every
// blocking level, and alpha/beta cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/cpu/sgemm.h"
#include "ops_test_util.h"

namespace si {
namespace {

struct Case {
  int64_t M, N, K;
};

// C (M, N) = alpha * op(A) op(B) + beta * C in double, with the same strided
// addressing.
std::vector<float> reference(bool ta, bool tb, const Case &c, float alpha, const std::vector<float> &A, int64_t lda,
                             const std::vector<float> &B, int64_t ldb, float beta, std::vector<float> C, int64_t ldc) {
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)];
        const double b = tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)];
        s += a * b;
      }
      float &y = C[size_t(i * ldc + j)];
      y = float(alpha * s + (beta == 0.0f ? 0.0 : double(beta) * y));
    }
  return C;
}

TEST(Sgemm, MatchesDoubleReferenceOnEveryIsaAndTransposeCase) {
  // Tails of the micro-tile (MR 4/6/12, NR 4/16/32), of KC (128/256), MC (192)
  // and NC (1024).
  const Case cases[] = {{1, 1, 1}, {5, 7, 3}, {13, 33, 17}, {12, 32, 128}, {37, 70, 300}, {200, 45, 129}, {7, 1030, 9}};
  const float alphas[] = {1.0f, -0.5f};
  const float betas[] = {0.0f, 1.0f, 0.25f};
  for (const Case &c : cases)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        // Leading dimensions larger than the rows, as the trainer's sub-matrix
        // calls use.
        const int64_t lda = (ta ? c.M : c.K) + 3, ldb = (tb ? c.K : c.N) + 5, ldc = c.N + 2;
        const auto A = test::randn(size_t((ta ? c.K : c.M) * lda), 1);
        const auto B = test::randn(size_t((tb ? c.N : c.K) * ldb), 2);
        const auto C0 = test::randn(size_t(c.M * ldc), 3);
        for (float alpha : alphas)
          for (float beta : betas) {
            const auto want = reference(ta, tb, c, alpha, A, lda, B, ldb, beta, C0, ldc);
            for (cpu::Isa isa : test::supported_isas()) {
              cpu::IsaOverride force(isa);
              auto C = C0;
              cpu::sgemm(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
              float worst = 0;
              for (int64_t i = 0; i < c.M; ++i)
                for (int64_t j = 0; j < ldc; ++j) {
                  const size_t at = size_t(i * ldc + j);
                  if (j >= c.N) {  // the padding between rows is never written
                    ASSERT_EQ(C[at], C0[at]) << "wrote past column N";
                    continue;
                  }
                  const float tol = 1e-5f * float(c.K) + 1e-5f;
                  worst = std::max(worst, std::fabs(C[at] - want[at]) / tol);
                }
              EXPECT_LE(worst, 1.0f) << cpu::isa_name(isa) << " ta=" << ta << " tb=" << tb << " M=" << c.M
                                     << " N=" << c.N << " K=" << c.K << " alpha=" << alpha << " beta=" << beta;
            }
          }
      }
}

TEST(Sgemm, BetaZeroIgnoresWhatCHeld) {
  const Case c{9, 40, 20};
  const auto A = test::randn(size_t(c.M * c.K), 1), B = test::randn(size_t(c.K * c.N), 2);
  for (cpu::Isa isa : test::supported_isas()) {
    cpu::IsaOverride force(isa);
    std::vector<float> C(size_t(c.M * c.N), std::numeric_limits<float>::quiet_NaN());
    cpu::sgemm(false, false, c.M, c.N, c.K, 1.0f, A.data(), c.K, B.data(), c.N, 0.0f, C.data(), c.N);
    for (float v : C) ASSERT_TRUE(std::isfinite(v)) << cpu::isa_name(isa);
  }
}

TEST(Sgemm, EmptyShapesAndBadStrides) {
  std::vector<float> C(4, 7.0f);
  const float one = 1.0f;
  cpu::sgemm(false, false, 2, 2, 0, 1.0f, &one, 1, &one, 2, 0.5f, C.data(),
             2);  // K = 0: C := beta C
  for (float v : C) EXPECT_EQ(v, 3.5f);
  cpu::sgemm(false, false, 0, 2, 3, 1.0f, &one, 3, &one, 2, 0.0f, C.data(),
             2);  // M = 0: nothing
  EXPECT_EQ(C[0], 3.5f);
  EXPECT_THROW(cpu::sgemm(false, false, 2, 2, 2, 1.0f, &one, 1, &one, 2, 0.0f, C.data(), 2),
               Error);  // lda < K
}

// Same inputs, same ISA: bitwise the same result, call after call (the
// trainer's resume relies on it).
TEST(Sgemm, Deterministic) {
  const Case c{100, 300, 260};
  const auto A = test::randn(size_t(c.M * c.K), 4), B = test::randn(size_t(c.N * c.K), 5);
  std::vector<float> C1(size_t(c.M * c.N)), C2(C1.size());
  cpu::sgemm(false, true, c.M, c.N, c.K, 1.0f, A.data(), c.K, B.data(), c.K, 0.0f, C1.data(), c.N);
  cpu::sgemm(false, true, c.M, c.N, c.K, 1.0f, A.data(), c.K, B.data(), c.K, 0.0f, C2.data(), c.N);
  EXPECT_EQ(C1, C2);
}

// sgemm_rows on pools of 1-3 threads gives bitwise one sgemm call's C: rows split in blocks of
// 240 (and whatever each thread gets) sum over k in the same order. Both op(A) cases; M with a
// tail; beta reading C.
TEST(Sgemm, RowsOverAPoolAreOneCall) {
  const Case c{1013, 77, 300};
  for (const bool ta : {false, true}) {
    const int64_t lda = ta ? c.M : c.K;
    const auto A = test::randn(size_t((ta ? c.K : c.M) * lda), 6), B = test::randn(size_t(c.N * c.K), 7);
    const auto C0 = test::randn(size_t(c.M * c.N), 8);
    std::vector<float> want = C0;
    cpu::sgemm(ta, true, c.M, c.N, c.K, 0.5f, A.data(), lda, B.data(), c.K, 1.0f, want.data(), c.N);
    for (const int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> got = C0;
      cpu::sgemm_rows(pool, ta, true, c.M, c.N, c.K, 0.5f, A.data(), lda, B.data(), c.K, 1.0f, got.data(), c.N);
      EXPECT_EQ(got, want) << "trans_a " << ta << ", " << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace si
