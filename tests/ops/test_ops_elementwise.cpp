#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ops/embedding.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::max_abs_diff;
using test::randn;
using test::view;

TEST(RmsNorm, MatchesFormulaAndReference) {
  ThreadPool pool(2);
  const int64_t T = 5, C = 70;
  auto x = randn(size_t(T * C), 1);
  auto w = randn(size_t(C), 2);
  std::vector<float> ref(x.size()), fast(x.size());
  ops::rms_norm_ref(view(x, {T, C}), view(w, {C}), 1e-5f, view(ref, {T, C}));
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[size_t(t * C + c)]) * x[size_t(t * C + c)];
    const double r = 1.0 / std::sqrt(ss / C + 1e-5);
    for (int64_t c = 0; c < C; ++c) ASSERT_NEAR(ref[size_t(t * C + c)], w[size_t(c)] * x[size_t(t * C + c)] * r, 1e-5);
  }
  ops::rms_norm(view(x, {T, C}), view(w, {C}), 1e-5f, view(fast, {T, C}), pool);
  EXPECT_LT(max_abs_diff(fast, ref), 1e-5f);
  ops::rms_norm(view(x, {T, C}), view(w, {C}), 1e-5f, view(x, {T, C}), pool);  // in place
  EXPECT_LT(max_abs_diff(x, ref), 1e-5f);
  std::vector<float> w2(3);
  EXPECT_THROW(ops::rms_norm(view(x, {T, C}), view(w2, {3}), 1e-5f, view(fast, {T, C}), pool), Error);
}

TEST(Rope, Llama3FactorsMatchTheConvertersRopeFreqs) {
  // The fixture model's rope_freqs.weight (llama.cpp's converter, torch float32): the divisor of each
  // frequency for theta 500000, head_dim 64, llama3 factor 32, low 1, high 4, original ctx 8192.
  const float want[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.65132928f, 3.29226279f, 9.66673088f,
                          32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32};
  RopeScaling s;
  s.type = "llama3";
  s.factor = 32;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  s.original_max_position_embeddings = 8192;
  const auto scaled = ops::rope_inv_freq(64, 500000.0f, s);
  const auto plain = ops::rope_inv_freq(64, 500000.0f, RopeScaling{});
  const auto from_file = ops::rope_inv_freq(64, 500000.0f, std::span<const float>(want, 32));
  for (int i = 0; i < 32; ++i) {
    EXPECT_NEAR(plain[size_t(i)] / scaled[size_t(i)], want[i], 2e-5f * want[i]) << i;
    EXPECT_NEAR(from_file[size_t(i)], scaled[size_t(i)], 1e-6f * plain[size_t(i)]) << i;
  }
}

TEST(Rope, InterleavedOnPermutedRowsEqualsHalfSplit) {
  // GGUF permutes Q/K rows so that GGML's neighbour pairs are HF's (i, i + D/2) pairs: applying the
  // interleaved rotation to the permuted vector gives the permuted HF result.
  ThreadPool pool(2);
  const int64_t T = 3, H = 2, D = 8;
  auto x = randn(size_t(T * H * D), 5);
  const std::vector<int32_t> pos = {0, 7, 100};
  const auto inv = ops::rope_inv_freq(int(D), 10000.0f, RopeScaling{});
  const auto tab = ops::rope_table(pos, inv);
  // permuted[2i] = x[i], permuted[2i+1] = x[i + D/2] within each head
  std::vector<float> perm(x.size());
  for (int64_t r = 0; r < T * H; ++r)
    for (int64_t i = 0; i < D / 2; ++i) {
      perm[size_t(r * D + 2 * i)] = x[size_t(r * D + i)];
      perm[size_t(r * D + 2 * i + 1)] = x[size_t(r * D + i + D / 2)];
    }
  auto hf = x;
  ops::rope_apply_ref(view(hf, {T, H, D}), tab, ops::RopePairing::HalfSplit);
  auto gg = perm;
  ops::rope_apply(view(gg, {T, H, D}), tab, ops::RopePairing::Interleaved, pool);
  for (int64_t r = 0; r < T * H; ++r)
    for (int64_t i = 0; i < D / 2; ++i) {
      EXPECT_NEAR(gg[size_t(r * D + 2 * i)], hf[size_t(r * D + i)], 1e-6f);
      EXPECT_NEAR(gg[size_t(r * D + 2 * i + 1)], hf[size_t(r * D + i + D / 2)], 1e-6f);
    }
  // Position 0 is the identity; rotation keeps each pair's norm.
  for (int64_t d = 0; d < H * D; ++d) EXPECT_FLOAT_EQ(hf[size_t(d)], x[size_t(d)]);
  const float a = x[size_t(H * D + 1)], b = x[size_t(H * D + 1 + D / 2)];
  EXPECT_NEAR(std::hypot(hf[size_t(H * D + 1)], hf[size_t(H * D + 1 + D / 2)]), std::hypot(a, b), 1e-5f);
}

TEST(SwigluAdd, MatchFormula) {
  ThreadPool pool(2);
  const int64_t n = 5000;
  auto g = randn(size_t(n), 1, 3.0f), u = randn(size_t(n), 2);
  std::vector<float> h(static_cast<size_t>(n)), href(static_cast<size_t>(n));
  ops::swiglu(view(g, {n}), view(u, {n}), view(h, {n}), pool);
  ops::swiglu_ref(view(g, {n}), view(u, {n}), view(href, {n}));
  for (int64_t i = 0; i < n; ++i) {
    const double s = double(g[size_t(i)]) / (1.0 + std::exp(-double(g[size_t(i)]))) * u[size_t(i)];
    ASSERT_NEAR(href[size_t(i)], s, 1e-5 * (1 + std::fabs(s)));
  }
  EXPECT_LT(max_abs_diff(h, href), 1e-6f);
  auto x = g;
  ops::add(view(x, {n}), view(u, {n}), pool);
  for (int64_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(x[size_t(i)], g[size_t(i)] + u[size_t(i)]);
}

TEST(Embedding, LooksUpRowsOfAnyPlainTypeAndRejectsBadIds) {
  ThreadPool pool(2);
  const int64_t V = 10, C = 24;
  auto tf = randn(size_t(V * C), 3);
  std::vector<uint16_t> th(tf.size());
  for (size_t i = 0; i < tf.size(); ++i) th[i] = f32_to_bf16(tf[i]);
  const std::vector<int32_t> ids = {9, 0, 3, 3};
  std::vector<float> out(ids.size() * size_t(C));
  ops::embedding(TensorView{th.data(), DType::BF16, {V, C}}, ids, view(out, {4, C}), pool);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t c = 0; c < C; ++c)
      ASSERT_EQ(out[i * size_t(C) + size_t(c)], bf16_to_f32(th[size_t(ids[i] * C + c)]));
  const std::vector<int32_t> bad = {1, 10};
  std::vector<float> out2(2 * size_t(C));
  try {
    ops::embedding(view(tf, {V, C}), bad, view(out2, {2, C}), pool);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 10 at position 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace si
