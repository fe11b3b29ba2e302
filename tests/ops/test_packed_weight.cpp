// ops/packed_weight.h: the 16-row interleaved layouts (Q8_0, Q4_0, K-quants) hold the file's values, and the
// packed matmul on every path (scalar, AVX2, AVX-512 VNNI) matches the reference dot products of
// the unpacked rows, for row counts that are and are not multiples of 16 and any activation count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mmap.h"
#include "ops/cpu/gemm_packed.h"
#include "ops/cpu/quants.h"
#include "ops/embedding.h"
#include "ops/matmul.h"
#include "ops/packed_weight.h"
#include "ops_test_util.h"
#include "test_paths.h"

namespace si {
namespace {

using test::randn;
using test::view;

const DType kPacked[] = {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

struct Quantized {
  std::vector<uint8_t> bytes;
  TensorView w;
};

Quantized quantized(DType dt, int64_t N, int64_t K, uint32_t seed) {
  Quantized q;
  const auto wf = randn(size_t(N * K), seed, 0.05f);
  const size_t rb = dtype_row_bytes(dt, uint64_t(K));
  q.bytes.resize(rb * size_t(N));
  cpu::quantize_rows(dt, wf.data(), q.bytes.data(), N, K);
  q.w = TensorView{q.bytes.data(), dt, {N, K}};
  return q;
}

TEST(PackedWeight, HoldsTheFileValues) {
  for (DType dt : kPacked) {
    for (int64_t N : {1, 16, 37}) {
      const int64_t K = cpu::packed_layout(dt).block == 256 ? 512 : 96;
      const Quantized q = quantized(dt, N, K, uint32_t(N));
      const ops::PackedWeight p = ops::PackedWeight::pack(q.w);
      EXPECT_EQ(p.rows(), N);
      EXPECT_EQ(p.cols(), K);
      EXPECT_EQ(p.bytes() % 64, 0u);
      std::vector<float> row(static_cast<size_t>(K));
      for (int64_t r = 0; r < N; ++r) {
        cpu::dequantize_row(dt, q.w.row(r), row.data(), K);
        for (int64_t k = 0; k < K; ++k)
          ASSERT_EQ(p.value(r, k), row[size_t(k)]) << dtype_name(dt) << " row " << r << " col " << k;
      }
    }
  }
}

// The embedding lookup on the packed copy (tied output matrices) gives the rows of the source table.
TEST(PackedWeight, EmbeddingFromThePackedCopyEqualsTheSourceTable) {
  ThreadPool pool(2);
  for (DType dt : kPacked) {
    const int64_t V = 37, K = cpu::packed_layout(dt).block == 256 ? 512 : 96;
    const Quantized q = quantized(dt, V, K, 7);
    const ops::PackedWeight p = ops::PackedWeight::pack(q.w);
    const std::vector<int32_t> ids = {0, 36, 5, 16, 5, 31};
    std::vector<float> from_source(ids.size() * size_t(K)), from_packed(ids.size() * size_t(K), -1.0f);
    const int64_t T = int64_t(ids.size());
    ops::embedding(q.w, ids, view(from_source, {T, K}), pool);
    ops::embedding(p, ids, view(from_packed, {T, K}), pool);
    EXPECT_EQ(from_packed, from_source) << dtype_name(dt);
    const std::vector<int32_t> bad = {3, 37};
    EXPECT_THROW(ops::embedding(p, bad, view(from_packed, {2, K}), pool), Error) << dtype_name(dt);
  }
}

// Every path against quantize_act + vec_dot_ref on the unpacked rows: the scalar packed kernel does
// the same arithmetic in the same order (equal results); SIMD paths differ in float rounding only.
TEST(PackedWeight, MatmulMatchesReferenceOnEveryPath) {
  ThreadPool pool(2);
  for (DType dt : kPacked) {
    for (int64_t N : {1, 5, 16, 37, 64}) {
      for (int64_t K : {int64_t(32), int64_t(96), int64_t(512)}) {
        if (K % cpu::packed_layout(dt).block != 0) continue;
        const Quantized q = quantized(dt, N, K, uint32_t(N * 1000 + K));
        const ops::PackedWeight p = ops::PackedWeight::pack(q.w, &pool);
        for (int64_t M : {1, 2, 3, 4, 5, 9}) {
          auto x = randn(size_t(M * K), uint32_t(M + K));
          std::vector<float> exact(size_t(M * N));
          const DType at = cpu::vec_dot_type(dt);
          std::vector<uint8_t> act(dtype_row_bytes(at, uint64_t(K)));
          for (int64_t m = 0; m < M; ++m) {
            cpu::quantize_act(at, x.data() + m * K, act.data(), K);
            for (int64_t n = 0; n < N; ++n) cpu::vec_dot_ref(dt, K, q.w.row(n), act.data(), &exact[size_t(m * N + n)]);
          }
          for (cpu::Isa isa : test::supported_isas()) {
            cpu::IsaOverride force(isa);
            std::vector<float> y(size_t(M * N) + 16, -7.0f);  // sentinel past the end: no stray stores
            ops::matmul(view(x, {M, K}), p, TensorView{y.data(), DType::F32, {M, N}}, pool);
            const std::string what = std::string(dtype_name(dt)) + " " + cpu::packed_kernels(isa).name +
                                     " N=" + std::to_string(N) + " K=" + std::to_string(K) + " M=" + std::to_string(M);
            for (size_t i = 0; i < exact.size(); ++i) {
              if (isa == cpu::Isa::Scalar) ASSERT_EQ(y[i], exact[i]) << what << " i=" << i;
              else ASSERT_NEAR(y[i], exact[i], 1e-4f * (1 + std::fabs(exact[i]))) << what << " i=" << i;
            }
            for (size_t i = exact.size(); i < y.size(); ++i) ASSERT_EQ(y[i], -7.0f) << what;
          }
        }
      }
    }
  }
}

// The packed and the row-major quantized matmul agree (same activation quantization).
TEST(PackedWeight, MatmulMatchesUnpackedMatmul) {
  ThreadPool pool(2);
  const int64_t N = 200, K = 256, M = 7;
  for (DType dt : kPacked) {
    const Quantized q = quantized(dt, N, K, 3);
    const ops::PackedWeight p = ops::PackedWeight::pack(q.w, &pool);
    auto x = randn(size_t(M * K), 4);
    std::vector<float> y0(size_t(M * N)), y1(size_t(M * N));
    ops::matmul(view(x, {M, K}), q.w, view(y0, {M, N}), pool);
    ops::matmul(view(x, {M, K}), p, view(y1, {M, N}), pool);
    for (size_t i = 0; i < y0.size(); ++i) ASSERT_NEAR(y1[i], y0[i], 1e-4f * (1 + std::fabs(y0[i]))) << dtype_name(dt);
  }
}

// Packing a read-only file mapping with release_source drops its pages; the view still reads the
// file's bytes afterwards (they fault back in), and the packed copy is unaffected.
TEST(PackedWeight, ReleasingTheSourceKeepsItReadable) {
  const int64_t N = 700, K = 2048;  // ~1.5 MiB of Q8_0: several whole pages
  const Quantized q = quantized(DType::Q8_0, N, K, 9);
  const std::string path = (test::temp_dir() / "packed_source.bin").string();
  write_file_atomic(path, std::string(reinterpret_cast<const char*>(q.bytes.data()), q.bytes.size()));
  const MappedFile f(path);
  const TensorView mapped{const_cast<uint8_t*>(f.data()), DType::Q8_0, {N, K}};
  ThreadPool pool(2);
  const ops::PackedWeight p = ops::PackedWeight::pack(mapped, &pool, true);
  ASSERT_EQ(0, std::memcmp(f.data(), q.bytes.data(), q.bytes.size()));
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t r : {int64_t(0), int64_t(333), N - 1}) {
    cpu::dequantize_row(DType::Q8_0, q.w.row(r), row.data(), K);
    for (int64_t k = 0; k < K; k += 97) ASSERT_EQ(p.value(r, k), row[size_t(k)]);
  }
}

TEST(PackedWeight, RejectsWhatItCannotPack) {
  const Quantized q = quantized(DType::F16, 4, 256, 1);
  EXPECT_FALSE(ops::PackedWeight::supports(DType::F16));
  EXPECT_THROW(ops::PackedWeight::pack(q.w), Error);
  const Quantized q8 = quantized(DType::Q8_0, 4, 64, 1);
  const ops::PackedWeight p = ops::PackedWeight::pack(q8.w);
  std::vector<float> x(2 * 32), y(2 * 4);
  ThreadPool pool(1);
  EXPECT_THROW(ops::matmul(view(x, {2, 32}), p, view(y, {2, 4}), pool), Error);  // K 32 != 64
}

}  // namespace
}  // namespace si
