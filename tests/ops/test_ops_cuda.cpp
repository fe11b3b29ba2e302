// Every CUDA forward op against the CPU fp32 reference ops, for each storage type (F32, F16, BF16),
// on random shapes (like llama.cpp's test-backend-ops). Inputs are rounded to the storage type first
// and the reference runs on the rounded values, so the tolerance only covers the GPU's fp32
// summation order and the one rounding of the output. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include <fmt/format.h>

#include "core/error.h"
#include "cuda_test_util.h"
#include "ops/attention.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/matmul.h"
#include "ops/embedding.h"
#include "ops/matmul.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::DeviceTensor;
using test::randn;
using test::upload_vec;
using test::rel_err;
using test::rounded;
using test::tolerance;
using test::view;

class CudaOps : public ::testing::TestWithParam<DType> {};

std::string type_name(const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); }

INSTANTIATE_TEST_SUITE_P(Types, CudaOps, ::testing::Values(DType::F32, DType::F16, DType::BF16), type_name);

std::vector<int32_t> random_ints(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST_P(CudaOps, EmbeddingGathersRows) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  const int64_t V = 50, C = 300, T = 9;
  auto table = rounded(randn(size_t(V * C), 1), t);
  const auto ids = random_ints(size_t(T), 0, int(V) - 1, 2);
  std::vector<float> ref(size_t(T * C));
  ops::embedding_ref(view(table, {V, C}), ids, view(ref, {T, C}));
  DeviceTensor dt(table, t, s), out(size_t(T * C), DType::F32, s);
  auto dids = upload_vec(ids, s);
  cuda::embedding(t, dt.data(), C, dids.as<int32_t>(), T, DType::F32, out.data(), s.get());
  EXPECT_EQ(test::max_abs_diff(out.download(s), ref), 0.0f);  // a copy, exact
}

TEST_P(CudaOps, RmsNormMatchesReference) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  for (const int64_t C : {64, 300, 2048}) {
    const int64_t T = 7;
    auto x = rounded(randn(size_t(T * C), 3, 2.0f), t);
    auto w = randn(size_t(C), 4);
    std::vector<float> ref(x.size());
    ops::rms_norm_ref(view(x, {T, C}), view(w, {C}), 1e-5f, view(ref, {T, C}));
    DeviceTensor dx(x, t, s), dw(w, DType::F32, s), out(x.size(), t, s), out32(x.size(), DType::F32, s);
    cuda::rms_norm(t, dx.data(), dw.buf.as<float>(), 1e-5f, t, out.data(), T, C, s.get());
    cuda::rms_norm(t, dx.data(), dw.buf.as<float>(), 1e-5f, DType::F32, out32.data(), T, C, s.get());
    EXPECT_LT(rel_err(out.download(s), ref), tolerance(t)) << "C=" << C;
    EXPECT_LT(rel_err(out32.download(s), ref), 1e-5) << "C=" << C;
  }
}

TEST_P(CudaOps, RopeBothPairingsWithLlama3Frequencies) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  const int64_t T = 6;
  const int H = 3, D = 64;
  const int64_t ld = int64_t(H) * D + 40;  // q heads inside a wider fused qkv row
  const std::vector<float> inv = ops::rope_inv_freq(D, 500000.0f, RopeScaling{"llama3", 32.0f, 1.0f, 4.0f, 8192});
  const std::vector<int32_t> pos = {0, 1, 17, 255, 4000, 20000};
  const ops::RopeTable tab = ops::rope_table(pos, inv);
  DeviceTensor dinv(inv, DType::F32, s);
  auto dpos = upload_vec(pos, s);
  for (const auto pairing : {ops::RopePairing::HalfSplit, ops::RopePairing::Interleaved}) {
    auto x = rounded(randn(size_t(T * ld), 5), t);
    // Reference on the (T, H, D) part of each row.
    std::vector<float> ref(size_t(T * H * D));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < H * D; ++j) ref[size_t(i * H * D + j)] = x[size_t(i * ld + j)];
    ops::rope_apply_ref(view(ref, {T, H, D}), tab, pairing);
    DeviceTensor dx(x, t, s);
    cuda::rope(t, dx.data(), ld, dinv.buf.as<float>(), dpos.as<int32_t>(), T, H, D,
               pairing == ops::RopePairing::Interleaved, s.get());
    const auto got = dx.download(s);
    std::vector<float> got_heads(ref.size());
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t j = 0; j < H * D; ++j) got_heads[size_t(i * H * D + j)] = got[size_t(i * ld + j)];
      for (int64_t j = H * D; j < ld; ++j) EXPECT_EQ(got[size_t(i * ld + j)], x[size_t(i * ld + j)]) << "untouched";
    }
    EXPECT_LT(rel_err(got_heads, ref), tolerance(t)) << (pairing == ops::RopePairing::Interleaved ? "interleaved" : "half");
  }
}

// F = 333: one value per thread; F = 1024 (16-bit types): eight per thread with 16-byte accesses.
TEST_P(CudaOps, SwigluOnFusedGateUpRows) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  const int64_t T = 5;
  for (const int64_t F : {333, 1024}) {
    auto gu = rounded(randn(size_t(T * 2 * F), 6, 3.0f), t);  // (T, 2F): gate | up
    std::vector<float> gate(size_t(T * F)), up(size_t(T * F)), ref(size_t(T * F));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t f = 0; f < F; ++f) {
        gate[size_t(i * F + f)] = gu[size_t(i * 2 * F + f)];
        up[size_t(i * F + f)] = gu[size_t(i * 2 * F + F + f)];
      }
    ops::swiglu_ref(view(gate, {T, F}), view(up, {T, F}), view(ref, {T, F}));
    DeviceTensor dgu(gu, t, s), out(size_t(T * F), t, s);
    const size_t esz = t == DType::F32 ? 4 : 2;
    cuda::swiglu(t, dgu.data(), static_cast<char*>(dgu.data()) + F * esz, 2 * F, out.data(), T, F, s.get());
    EXPECT_LT(rel_err(out.download(s), ref), tolerance(t)) << "F=" << F;
  }
}

TEST_P(CudaOps, ResidualAddIntoFp32) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  const int64_t n = 1000;
  auto x = randn(size_t(n), 7), r = rounded(randn(size_t(n), 8), t);
  auto ref = x;
  ops::add_ref(view(ref, {n}), view(r, {n}));
  DeviceTensor dx(x, DType::F32, s), dr(r, t, s);
  cuda::add(DType::F32, dx.data(), t, dr.data(), n, s.get());
  EXPECT_LT(rel_err(dx.download(s), ref), 1e-6);
}

TEST_P(CudaOps, MatmulCublasLtMatchesReference) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  cuda::Blas blas;
  const int64_t K = 256, N = 72;
  for (const int64_t M : {1, 7, 33}) {
    auto x = rounded(randn(size_t(M * K), 9), t), w = rounded(randn(size_t(N * K), 10, 0.05f), t);
    auto y0 = randn(size_t(M * N), 11);
    std::vector<float> ref(size_t(M * N));
    ops::matmul_ref(view(x, {M, K}), view(w, {N, K}), view(ref, {M, N}));
    DeviceTensor dx(x, t, s), dw(w, t, s), y(size_t(M * N), t, s), yacc(y0, DType::F32, s);
    blas.matmul(t, dx.data(), M, K, dw.data(), N, t, y.data(), false, s.get());
    blas.matmul(t, dx.data(), M, K, dw.data(), N, DType::F32, yacc.data(), true, s.get());
    EXPECT_LT(rel_err(y.download(s), ref), tolerance(t)) << "M=" << M;
    std::vector<float> ref_acc = ref;
    for (size_t i = 0; i < ref_acc.size(); ++i) ref_acc[i] += y0[i];
    EXPECT_LT(rel_err(yacc.download(s), ref_acc), 1e-5) << "accumulate, M=" << M;
  }
}

TEST_P(CudaOps, MatmulSelectedRows) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  const int64_t M = 6, K = 200, N = 500;
  auto x = rounded(randn(size_t(M * K), 12), t), w = rounded(randn(size_t(N * K), 13, 0.05f), t);
  const auto rows = random_ints(37, 0, int(N) - 1, 14);
  const int64_t R = int64_t(rows.size());
  std::vector<float> ref(size_t(M * R));
  ops::matmul_ref(view(x, {M, K}), view(w, {N, K}), view(ref, {M, R}), rows);
  DeviceTensor dx(x, t, s), dw(w, t, s), y(size_t(M * R), DType::F32, s);
  auto drows = upload_vec(rows, s);
  cuda::matmul_rows(t, dx.data(), M, K, dw.data(), drows.as<int32_t>(), R, y.buf.as<float>(), s.get());
  EXPECT_LT(rel_err(y.download(s), ref), 1e-5);
}

// The decode GEMV: 1-4 rows, K with a partial last group of loads (520), several groups (4104),
// and rows split over several warps (K > 4096: 8192 as down_proj, 8224 with a partial group).
TEST_P(CudaOps, GemvMatchesReferenceForDecodeRows) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  if (t == DType::F32) GTEST_SKIP() << "the GEMV streams 16-bit weights only (F32 goes to cuBLAS)";
  cuda::Stream s;
  const int64_t N = 77;
  for (const int64_t K : {520, 4104, 8192, 8224})
    for (const int64_t M : {1, 2, 3, 4}) {
      auto x = rounded(randn(size_t(M * K), 40), t), w = rounded(randn(size_t(N * K), 41, 0.05f), t);
      auto y0 = randn(size_t(M * N), 42);
      std::vector<float> ref(size_t(M * N));
      ops::matmul_ref(view(x, {M, K}), view(w, {N, K}), view(ref, {M, N}));
      DeviceTensor dx(x, t, s), dw(w, t, s), y(size_t(M * N), t, s), yacc(y0, DType::F32, s);
      ASSERT_TRUE(cuda::gemv_fits(t, M, K));
      cuda::gemv(t, dx.data(), M, K, dw.data(), N, t, y.data(), false, s.get());
      cuda::gemv(t, dx.data(), M, K, dw.data(), N, DType::F32, yacc.data(), true, s.get());
      EXPECT_LT(rel_err(y.download(s), ref), tolerance(t)) << "M=" << M << " K=" << K;
      for (size_t i = 0; i < ref.size(); ++i) ref[i] += y0[i];
      EXPECT_LT(rel_err(yacc.download(s), ref), 1e-5) << "accumulate, M=" << M << " K=" << K;
    }
  EXPECT_FALSE(cuda::gemv_fits(t, cuda::kGemvMaxRows + 1, 512));
  EXPECT_FALSE(cuda::gemv_fits(t, 1, 516));
  EXPECT_FALSE(cuda::gemv_fits(DType::F32, 1, 512));
}

// Greedy argmax on the device against the host's first-maximum rule, on rows with repeated maxima,
// NaN, all-equal and all -inf values, rows that start off 16-byte alignment (V odd), and (V of a
// vocabulary) rows split over many blocks: maxima in different blocks, at a block's first and last
// element and at the row's ends. Launched twice on one work buffer: each launch leaves it reusable.
TEST(CudaArgmax, FirstLargestLikeTheHost) {
  SI_REQUIRE_CUDA();
  cuda::Stream s;
  for (const int64_t V : {int64_t(1001), int64_t(128257)}) {
    const int64_t n = 9;
    std::vector<float> x = randn(size_t(n * V), 50);
    auto row = [&](int64_t r) { return x.data() + r * V; };
    row(1)[7] = row(1)[V - 100] = 50.0f;                    // two maxima far apart: the first wins
    row(2)[3] = NAN;                                        // NaN never wins
    row(2)[600] = 40.0f;
    std::fill(row(3), row(3) + V, 0.5f);                    // all equal: index 0
    row(4)[V - 1] = 60.0f;                                  // the last element
    std::fill(row(5), row(5) + V, -INFINITY);               // nothing above -inf: index 0
    row(6)[0] = 70.0f;                                      // the first element
    for (int64_t v = 511; v < V; v += 2048) row(7)[v] = 80.0f;  // many equal maxima on slice edges
    row(8)[V / 2] = 90.0f;
    row(8)[V / 2 + 1] = 90.0f;
    DeviceTensor dx(x, DType::F32, s);
    cuda::DeviceBuffer out(size_t(n) * 4, "argmax"), work(cuda::argmax_work_bytes(n), "argmax work");
    SI_CUDA_CHECK(cudaMemset(work.data(), 0, work.bytes()));
    for (int launch = 0; launch < 2; ++launch) {
      SI_CUDA_CHECK(cudaMemsetAsync(out.data(), 0xff, out.bytes(), s.get()));
      cuda::argmax_rows(dx.buf.as<float>(), n, V, out.as<int32_t>(), work.data(), s.get());
      std::vector<int32_t> got(static_cast<size_t>(n));
      out.download(got.data(), got.size() * 4, s);
      s.sync();
      for (int64_t r = 0; r < n; ++r) {
        int32_t best = 0;
        for (int64_t v = 1; v < V; ++v)
          if (row(r)[v] > row(r)[best] || std::isnan(row(r)[best])) best = int32_t(v);
        EXPECT_EQ(got[size_t(r)], best) << "V=" << V << " row " << r << " launch " << launch;
      }
      EXPECT_EQ(got[1], 7);
      EXPECT_EQ(got[2], 600);
      EXPECT_EQ(got[4], int32_t(V - 1));
      EXPECT_EQ(got[6], 0);
      EXPECT_EQ(got[7], 511);
    }
  }
}

// Attention test batches over a cache of 4 slots of 80 positions: `small` holds a prefill, a decode
// step, a shared-prefix sequence and a long sequence's token; `big` 300 such tokens.
struct AttentionBatches {
  std::vector<cuda::TokenMeta> small, big;
  AttentionBatches() {
    for (int p = 0; p < 10; ++p) small.push_back({0, p, 0, 0});  // prefill of slot 0
    small.push_back({1, 40, 0, 0});                               // decode step of slot 1
    for (int p = 20; p < 25; ++p) small.push_back({2, p, 3, 20}); // slot 2 reads [0, 20) from slot 3
    small.push_back({2, 70, 3, 20});                              // three tiles, prefix included
    for (int i = 0; i < 300; ++i) big.push_back(i % 3 == 2 ? cuda::TokenMeta{2, 20 + i % 60, 3, 20}
                                                           : cuda::TokenMeta{i % 2, (i * 7) % 80, 0, 0});
  }
};

// One attention problem: random keys and values of the 4 slots, q inside fused qkv rows, and the
// fp32 reference output (T, H, D) over the rounded values.
struct AttentionCase {
  static constexpr int kSlots = 4, kCap = 80;
  int H, KVH, D;
  int64_t T, ldq;  // ldq: q's row stride inside a q|k|v row
  std::vector<float> ck, cv, qfull, ref;

  AttentionCase(const std::vector<cuda::TokenMeta>& meta, int h, int kvh, int d, DType t, uint32_t seed)
      : H(h), KVH(kvh), D(d), T(int64_t(meta.size())), ldq(int64_t(h) * d + 2 * int64_t(kvh) * d) {
    const int64_t slot_elems = int64_t(KVH) * kCap * D;
    ck = rounded(randn(size_t(kSlots * slot_elems), seed), t);
    cv = rounded(randn(size_t(kSlots * slot_elems), seed + 1), t);
    qfull = rounded(randn(size_t(T * ldq), seed + 2), t);
    std::vector<ops::AttnSource> src;
    std::vector<int32_t> pos;
    for (const auto& m : meta) {
      ops::AttnSource a{ck.data() + m.slot * slot_elems, cv.data() + m.slot * slot_elems, kCap};
      if (m.prefix_len > 0) {
        a.prefix_k = ck.data() + m.prefix_slot * slot_elems;
        a.prefix_v = cv.data() + m.prefix_slot * slot_elems;
        a.prefix_len = m.prefix_len;
      }
      src.push_back(a);
      pos.push_back(m.pos);
    }
    std::vector<float> q(size_t(T * H * D));
    ref.resize(q.size());
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < H * D; ++j) q[size_t(i * H * D + j)] = qfull[size_t(i * ldq + j)];
    ops::attention_ref(view(q, {T, H, D}), view(ref, {T, H, D}), KVH, src, pos);
  }
  std::string name() const { return fmt::format("H={} KVH={} D={} T={}", H, KVH, D, T); }
};

// GQA and plain multi-head configurations on both batches.
TEST_P(CudaOps, AttentionPrefillDecodeAndSharedPrefix) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  struct Cfg { int H, KVH, D; };
  const AttentionBatches b;
  for (const Cfg cfg : {Cfg{8, 2, 64}, Cfg{4, 4, 32}, Cfg{6, 2, 128}})
  for (const auto* batch : {&b.small, &b.big}) {
    const AttentionCase c(*batch, cfg.H, cfg.KVH, cfg.D, t, 20);
    DeviceTensor dq(c.qfull, t, s), dk(c.ck, t, s), dv(c.cv, t, s), out(c.ref.size(), t, s);
    auto dmeta = upload_vec(*batch, s);
    const cuda::KvLayer layer{dk.data(), dv.data(), t, c.KVH, c.D, AttentionCase::kCap};
    cuda::attention(t, dq.data(), c.ldq, out.data(), int64_t(c.H) * c.D, c.T, c.H, layer, dmeta.as<cuda::TokenMeta>(),
                    s.get());
    EXPECT_LT(rel_err(out.download(s), c.ref), tolerance(t)) << c.name();
  }
}

// The tensor-core kernel (F16 only) against the fp32 reference on the same batches, plus long runs
// of one sequence that span several chunks (one with a shared prefix), for every heads-per-kv-head
// count it takes (16 / G tokens per warp) and both head sizes.
TEST(CudaAttentionMma, MatchesReference) {
  SI_REQUIRE_CUDA();
  const DType t = DType::F16;
  cuda::Stream s;
  struct Cfg { int H, KVH, D; };
  const AttentionBatches b;
  const std::vector<cuda::TokenMeta> runs = [] {
    std::vector<cuda::TokenMeta> r;
    for (int p = 0; p < 70; ++p) r.push_back({0, p, 0, 0});       // 70 tokens: several chunks
    r.push_back({1, 79, 0, 0});                                    // a decode step, all 80 keys
    for (int p = 20; p < 57; ++p) r.push_back({2, p, 3, 20});     // after a 20-token shared prefix
    return r;
  }();
  for (const Cfg cfg : {Cfg{8, 2, 64}, Cfg{4, 2, 64}, Cfg{4, 4, 64}, Cfg{16, 1, 128}, Cfg{8, 1, 64}})
  for (const auto* batch : {&b.small, &b.big, &runs}) {
    const int per_chunk = cuda::attention_mma_chunk_tokens(t, cfg.H, cfg.KVH, cfg.D);
    ASSERT_GT(per_chunk, 0) << "H=" << cfg.H << " KVH=" << cfg.KVH << " D=" << cfg.D;
    const AttentionCase c(*batch, cfg.H, cfg.KVH, cfg.D, t, 40);
    std::vector<int32_t> chunks(size_t(c.T + 2));
    const int n = cuda::attention_chunks(batch->data(), c.T, per_chunk, chunks.data());
    EXPECT_GE(n, 1);
    DeviceTensor dq(c.qfull, t, s), dk(c.ck, t, s), dv(c.cv, t, s);
    DeviceTensor out(c.ref.size(), t, s);  // NaN-filled: every output row must be written
    auto dmeta = upload_vec(*batch, s);
    auto dchunks = upload_vec(chunks, s);
    const cuda::KvLayer layer{dk.data(), dv.data(), t, c.KVH, c.D, AttentionCase::kCap};
    cuda::attention_mma(dq.data(), c.ldq, out.data(), int64_t(c.H) * c.D, c.T, c.H, layer,
                        dmeta.as<cuda::TokenMeta>(), dchunks.as<int32_t>(), s.get());
    EXPECT_LT(rel_err(out.download(s), c.ref), tolerance(t)) << c.name() << " chunks=" << n;
  }
}

// The fused RoPE + KV store gives bitwise what rope() on the q and k heads then kv_store() give:
// the rotated rows in place and the cache, for both pairings.
TEST_P(CudaOps, RopeKvStoreEqualsRopeThenKvStore) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  const int S = 3, cap = 16, H = 4, KVH = 2, D = 64;
  const std::vector<cuda::TokenMeta> meta = {{0, 0, 0, 0}, {0, 1, 0, 0}, {2, 9, 0, 0}, {1, 15, 0, 0}, {2, 10, 0, 0}};
  const int64_t T = int64_t(meta.size()), ld = int64_t(H + 2 * KVH) * D + 8;  // padded rows
  std::vector<int32_t> pos;
  for (const auto& m : meta) pos.push_back(m.pos);
  std::vector<float> inv_freq(size_t(D / 2));
  for (int i = 0; i < D / 2; ++i) inv_freq[size_t(i)] = std::pow(10000.0f, -2.0f * float(i) / float(D));
  auto dmeta = upload_vec(meta, s);
  auto dpos = upload_vec(pos, s);
  auto dinv = upload_vec(inv_freq, s);
  const auto qkv = rounded(randn(size_t(T * ld), 50), t);
  const auto cache0 = rounded(randn(size_t(S * KVH * cap * D), 51), t);
  const size_t esz = t == DType::F32 ? 4 : 2;
  for (const bool interleaved : {false, true}) {
    DeviceTensor x1(qkv, t, s), k1(cache0, t, s), v1(cache0, t, s);
    DeviceTensor x2(qkv, t, s), k2(cache0, t, s), v2(cache0, t, s);
    const cuda::KvLayer l1{k1.data(), v1.data(), t, KVH, D, cap}, l2{k2.data(), v2.data(), t, KVH, D, cap};
    char* b1 = static_cast<char*>(x1.data());
    cuda::rope(t, b1, ld, dinv.as<float>(), dpos.as<int32_t>(), T, H + KVH, D, interleaved, s.get());
    cuda::kv_store(t, b1 + size_t(H) * D * esz, b1 + size_t(H + KVH) * D * esz, ld, l1, dmeta.as<cuda::TokenMeta>(), T,
                   s.get());
    cuda::rope_kv_store(t, x2.data(), ld, dinv.as<float>(), T, H, l2, dmeta.as<cuda::TokenMeta>(), interleaved,
                        s.get());
    EXPECT_EQ(x1.download(s), x2.download(s)) << (interleaved ? "interleaved" : "half");
    EXPECT_EQ(k1.download(s), k2.download(s));
    EXPECT_EQ(v1.download(s), v2.download(s));
    EXPECT_NE(k1.download(s), cache0);  // something was stored
  }
}

TEST_P(CudaOps, KvStoreWritesSlotPositions) {
  SI_REQUIRE_CUDA();
  const DType t = GetParam();
  cuda::Stream s;
  const int S = 3, cap = 16, KVH = 2, D = 32;
  const std::vector<cuda::TokenMeta> meta = {{0, 0, 0, 0}, {0, 1, 0, 0}, {2, 9, 0, 0}, {1, 15, 0, 0}};
  const int64_t T = int64_t(meta.size()), ld = 3 * int64_t(KVH) * D;
  auto kv = rounded(randn(size_t(T * ld), 30), t);  // (T, ld): k at 0, v at KVH*D
  auto cache0 = randn(size_t(S * KVH * cap * D), 31);
  DeviceTensor dkv(kv, t, s), ck(rounded(cache0, t), t, s), cv(rounded(cache0, t), t, s);
  auto dmeta = upload_vec(meta, s);
  const size_t esz = t == DType::F32 ? 4 : 2;
  const cuda::KvLayer layer{ck.data(), cv.data(), t, KVH, D, cap};
  cuda::kv_store(t, dkv.data(), static_cast<char*>(dkv.data()) + KVH * D * esz, ld, layer, dmeta.as<cuda::TokenMeta>(),
                 T, s.get());
  auto want_k = rounded(cache0, t), want_v = want_k;
  for (int64_t i = 0; i < T; ++i)
    for (int h = 0; h < KVH; ++h)
      for (int d = 0; d < D; ++d) {
        const size_t dst = size_t(((meta[size_t(i)].slot * KVH + h) * cap + meta[size_t(i)].pos) * D + d);
        want_k[dst] = kv[size_t(i * ld + h * D + d)];
        want_v[dst] = kv[size_t(i * ld + KVH * D + h * D + d)];
      }
  EXPECT_EQ(test::max_abs_diff(ck.download(s), want_k), 0.0f);
  EXPECT_EQ(test::max_abs_diff(cv.download(s), want_v), 0.0f);
}

TEST(CudaDevice, ErrorsCarryTheCudaMessage) {
  SI_REQUIRE_CUDA();
  try {
    SI_CUDA_CHECK(cudaMemcpy(nullptr, reinterpret_cast<void*>(1), 16, cudaMemcpyDeviceToDevice));
    FAIL() << "expected si::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaMemcpy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("invalid"), std::string::npos) << e.what();
  }
  cudaGetLastError();
}

TEST(CudaDevice, BuffersCountTheirBytes) {
  SI_REQUIRE_CUDA();
  const size_t before = cuda::bytes_allocated();
  {
    cuda::DeviceArena a("test");
    a.alloc_bytes(1000);
    a.alloc_bytes(3000);
    EXPECT_EQ(a.bytes_used(), 1024 + 3000u);  // the second allocation starts 256-aligned
    EXPECT_EQ(cuda::bytes_allocated(), before + a.bytes_reserved());
  }
  EXPECT_EQ(cuda::bytes_allocated(), before);
}

}  // namespace
}  // namespace si
