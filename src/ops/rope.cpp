#include "ops/rope.h"

#include <cmath>

#include "ops/check.h"
#include "ops/cpu/cpu_ops.h"

namespace si::ops {

std::vector<float> rope_inv_freq(int head_dim, float theta, const RopeScaling& scaling) {
  SI_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope: head_dim must be even and positive, got {}", head_dim);
  const int half = head_dim / 2;
  std::vector<float> f(size_t(half), 1.0f);
  if (scaling.type == "llama3") {
    // transformers' _compute_llama3_parameters, expressed as a divisor per frequency.
    const double pi = 3.14159265358979323846;
    const double old_ctx = scaling.original_max_position_embeddings;
    const double low_wavelen = old_ctx / scaling.low_freq_factor;
    const double high_wavelen = old_ctx / scaling.high_freq_factor;
    for (int i = 0; i < half; ++i) {
      const float base_inv = float(1.0 / std::pow(double(theta), double(2 * i) / head_dim));
      const double wavelen = 2.0 * pi / base_inv;
      float inv = base_inv;
      if (wavelen > low_wavelen) {
        inv = base_inv / scaling.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_ctx / wavelen - scaling.low_freq_factor) /
                              (scaling.high_freq_factor - scaling.low_freq_factor);
        inv = float((1.0 - smooth) * base_inv / scaling.factor + smooth * base_inv);
      }
      f[size_t(i)] = inv;
    }
    return f;
  }
  SI_CHECK(scaling.type == "none" || scaling.type.empty() || scaling.type == "default",
           "rope: unsupported rope_scaling type '{}' (supported: llama3)", scaling.type);
  for (int i = 0; i < half; ++i) f[size_t(i)] = float(1.0 / std::pow(double(theta), double(2 * i) / head_dim));
  return f;
}

std::vector<float> rope_inv_freq(int head_dim, float theta, std::span<const float> freq_factors) {
  SI_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope: head_dim must be even and positive, got {}", head_dim);
  const int half = head_dim / 2;
  SI_CHECK(int64_t(freq_factors.size()) == half, "rope: rope_freqs has {} values, expected head_dim/2 = {}",
           freq_factors.size(), half);
  std::vector<float> f(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i)
    f[size_t(i)] = float(1.0 / std::pow(double(theta), double(2 * i) / head_dim)) / freq_factors[size_t(i)];
  return f;
}

RopeTable rope_table(std::span<const int32_t> pos, std::span<const float> inv_freq) {
  RopeTable t;
  t.n_tokens = int64_t(pos.size());
  t.half = int64_t(inv_freq.size());
  t.cos.resize(size_t(t.n_tokens * t.half));
  t.sin.resize(size_t(t.n_tokens * t.half));
  for (int64_t i = 0; i < t.n_tokens; ++i)
    for (int64_t j = 0; j < t.half; ++j) {
      // fp32 product as transformers forms it (inv_freq @ position_ids in float32).
      const float angle = float(pos[size_t(i)]) * inv_freq[size_t(j)];
      t.cos[size_t(i * t.half + j)] = std::cos(angle);
      t.sin[size_t(i * t.half + j)] = std::sin(angle);
    }
  return t;
}

namespace {

void validate(const TensorView& x, const RopeTable& table) {
  expect_f32(x, "rope", "x");
  expect_ndim(x, 3, "rope", "x (T, H, D)");
  expect_dim(x, 0, table.n_tokens, "rope", "x (T, H, D)");
  expect_dim(x, 2, 2 * table.half, "rope", "x (T, H, D)");
}

}  // namespace

void rope_apply(const TensorView& x, const RopeTable& table, RopePairing pairing, ThreadPool& pool) {
  validate(x, table);
  cpu::rope(x.as<float>(), table.cos.data(), table.sin.data(), x.dim(0), x.dim(1), x.dim(2),
            pairing == RopePairing::Interleaved, pool);
}

void rope_apply_ref(const TensorView& x, const RopeTable& table, RopePairing pairing) {
  validate(x, table);
  cpu::rope_ref(x.as<float>(), table.cos.data(), table.sin.data(), x.dim(0), x.dim(1), x.dim(2),
                pairing == RopePairing::Interleaved);
}

}  // namespace si::ops
