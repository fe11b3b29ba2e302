#include "ops/attention.h"

#include "ops/check.h"
#include "ops/cpu/cpu_ops.h"

namespace si::ops {
namespace {

void validate(const TensorView& q, const TensorView& out, int n_kv_heads, std::span<const AttnSource> src,
              std::span<const int32_t> pos) {
  expect_f32(q, "attention", "q");
  expect_f32(out, "attention", "out");
  expect_ndim(q, 3, "attention", "q (T, H, D)");
  SI_CHECK(out.shape == q.shape, "attention: out shape {} differs from q shape {}", shape_str(out.shape),
           shape_str(q.shape));
  const int64_t T = q.dim(0), H = q.dim(1);
  SI_CHECK(n_kv_heads > 0 && H % n_kv_heads == 0, "attention: {} query heads not a multiple of {} kv heads", H,
           n_kv_heads);
  SI_CHECK(int64_t(src.size()) == T && int64_t(pos.size()) == T,
           "attention: {} tokens but {} sources and {} positions", T, src.size(), pos.size());
  for (int64_t t = 0; t < T; ++t) {
    const AttnSource& s = src[size_t(t)];
    SI_CHECK(pos[size_t(t)] >= 0 && pos[size_t(t)] < s.t_max, "attention: token {} at position {} outside the cache "
             "(capacity {})", t, pos[size_t(t)], s.t_max);
    SI_CHECK(s.k && s.v, "attention: token {} has no key/value cache", t);
    SI_CHECK(s.prefix_len == 0 || (s.prefix_k && s.prefix_v), "attention: token {} has a prefix of {} without a cache",
             t, s.prefix_len);
  }
}

}  // namespace

void attention(const TensorView& q, const TensorView& out, int n_kv_heads, std::span<const AttnSource> src,
               std::span<const int32_t> pos, ThreadPool& pool) {
  validate(q, out, n_kv_heads, src, pos);
  cpu::attention(q.as<float>(), out.as<float>(), q.dim(0), int(q.dim(1)), n_kv_heads, int(q.dim(2)), src.data(),
                 pos.data(), pool);
}

void attention_ref(const TensorView& q, const TensorView& out, int n_kv_heads, std::span<const AttnSource> src,
                   std::span<const int32_t> pos) {
  validate(q, out, n_kv_heads, src, pos);
  cpu::attention_ref(q.as<float>(), out.as<float>(), q.dim(0), int(q.dim(1)), n_kv_heads, int(q.dim(2)),
                     src.data(), pos.data());
}

}  // namespace si::ops
