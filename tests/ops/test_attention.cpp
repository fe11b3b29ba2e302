#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "ops/attention.h"
#include "ops_test_util.h"

namespace si {
namespace {

using test::max_abs_diff;
using test::randn;
using test::view;

constexpr int kH = 4, kKVH = 2, kD = 16, kTmax = 12;

// A cache of one sequence: (KVH, t_max, D) keys and values.
struct Seq {
  std::vector<float> k, v;
  explicit Seq(uint32_t seed) : k(randn(size_t(kKVH * kTmax * kD), seed)), v(randn(size_t(kKVH * kTmax * kD), seed + 100)) {}
  ops::AttnSource src() const { return {k.data(), v.data(), kTmax}; }
};

TEST(Attention, ReferenceMatchesExplicitSoftmax) {
  Seq s(1);
  const int64_t T = 1;
  auto q = randn(size_t(T * kH * kD), 7);
  std::vector<float> out(q.size());
  const std::vector<int32_t> pos = {5};
  const std::vector<ops::AttnSource> src = {s.src()};
  ops::attention_ref(view(q, {T, kH, kD}), view(out, {T, kH, kD}), kKVH, src, pos);
  for (int h = 0; h < kH; ++h) {
    const int g = h / (kH / kKVH);
    std::vector<double> w(6);
    double mx = -1e30, sum = 0;
    for (int j = 0; j <= 5; ++j) {
      double d = 0;
      for (int i = 0; i < kD; ++i) d += double(q[size_t(h * kD + i)]) * s.k[size_t((g * kTmax + j) * kD + i)];
      w[size_t(j)] = d / std::sqrt(double(kD));
      mx = std::max(mx, w[size_t(j)]);
    }
    for (auto& x : w) sum += (x = std::exp(x - mx));
    for (int i = 0; i < kD; ++i) {
      double o = 0;
      for (int j = 0; j <= 5; ++j) o += w[size_t(j)] / sum * s.v[size_t((g * kTmax + j) * kD + i)];
      EXPECT_NEAR(out[size_t(h * kD + i)], o, 1e-5) << "head " << h;
    }
  }
}

TEST(Attention, MixedSequencesAndSharedPrefixMatchReference) {
  ThreadPool pool(2);
  Seq a(1), b(2), prefix(3);
  // Sequence c reads positions [0, 4) from `prefix` and the rest from its own cache. The same
  // result must come from a private cache holding the prefix copied in.
  Seq c(4);
  ops::AttnSource cs = c.src();
  cs.prefix_k = prefix.k.data();
  cs.prefix_v = prefix.v.data();
  cs.prefix_len = 4;
  Seq c_copy = c;
  for (int g = 0; g < kKVH; ++g)
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < kD; ++i) {
        const size_t o = size_t((g * kTmax + j) * kD + i);
        c_copy.k[o] = prefix.k[o];
        c_copy.v[o] = prefix.v[o];
      }
  const std::vector<int32_t> pos = {0, 1, 2, 9, 4, 6};
  const std::vector<ops::AttnSource> src = {a.src(), a.src(), a.src(), b.src(), cs, cs};
  const std::vector<ops::AttnSource> src_copy = {a.src(), a.src(), a.src(), b.src(), c_copy.src(), c_copy.src()};
  const int64_t T = int64_t(pos.size());
  auto q = randn(size_t(T * kH * kD), 9);
  std::vector<float> ref(q.size()), ref_copy(q.size());
  ops::attention_ref(view(q, {T, kH, kD}), view(ref, {T, kH, kD}), kKVH, src, pos);
  ops::attention_ref(view(q, {T, kH, kD}), view(ref_copy, {T, kH, kD}), kKVH, src_copy, pos);
  EXPECT_EQ(max_abs_diff(ref, ref_copy), 0.0f);
  for (cpu::Isa isa : test::supported_isas()) {
    cpu::IsaOverride force(isa);
    std::vector<float> out(q.size());
    ops::attention(view(q, {T, kH, kD}), view(out, {T, kH, kD}), kKVH, src, pos, pool);
    EXPECT_LT(max_abs_diff(out, ref), 1e-5f) << cpu::isa_name(isa);
  }
  // Position 0 attends to itself only: the output is its value vector.
  for (int i = 0; i < kD; ++i) EXPECT_NEAR(ref[size_t(i)], a.v[size_t(i)], 1e-6f);
}

TEST(Attention, RejectsPositionsOutsideTheCache) {
  ThreadPool pool(1);
  Seq a(1);
  auto q = randn(size_t(kH * kD), 1);
  std::vector<float> out(q.size());
  const std::vector<int32_t> pos = {kTmax};
  const std::vector<ops::AttnSource> src = {a.src()};
  EXPECT_THROW(ops::attention(view(q, {1, kH, kD}), view(out, {1, kH, kD}), kKVH, src, pos, pool), Error);
}

}  // namespace
}  // namespace si
