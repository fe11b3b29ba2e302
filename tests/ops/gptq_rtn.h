// tests/ops/gptq_rtn.h — GPTQ-layout tensors made by round-to-nearest (no Hessian), for testing the
// W4A16 kernels without a GPTQ checkpoint.
//
//   test::GptqRtn g = test::gptq_rtn(w, N, K, 128, /*act_order=*/true, seed);   // w (N, K) fp32
//   cuda::GptqView v = g.view();       // AutoGPTQ layout: qweight, qzeros (zero-1), scales, g_idx
//   g.deq                              // (N, K) what w = scale * (q - zero) gives, rounded to fp16
//   g.deq32                            // (N, K) the same in fp32, not rounded
//
// Quantization as GPTQ's quantizer does it per group and output row: the range includes 0, scale =
// (max - min) / 15 (rounded to fp16, as stored), zero = round(-min / scale), q = clamp(round(w /
// scale) + zero, 0, 15). The zero is kept >= 1 because the v1 format stores zero - 1 in 4 bits.
// act_order: groups are formed over a random permutation of the inputs, and g_idx says so.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "core/half.h"
#include "ops/cuda/w4a16.h"

namespace si::test {

struct GptqRtn {
  int64_t K = 0, N = 0;
  int G = 0;
  std::vector<int32_t> qweight, qzeros, g_idx;
  std::vector<uint16_t> scales;
  std::vector<float> deq;    // (N, K)
  std::vector<float> deq32;  // (N, K)

  cuda::GptqView view() const {
    return cuda::GptqView{K, N, G, qweight.data(), qzeros.data(), scales.data(), g_idx.data(), true};
  }
};

inline GptqRtn gptq_rtn(const std::vector<float>& w, int64_t N, int64_t K, int G, bool act_order, uint32_t seed) {
  GptqRtn r;
  r.K = K;
  r.N = N;
  r.G = G;
  const int64_t groups = (K + G - 1) / G;
  std::vector<int32_t> order(static_cast<size_t>(K));
  std::iota(order.begin(), order.end(), 0);
  if (act_order) std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  r.g_idx.assign(size_t(K), 0);
  for (int64_t i = 0; i < K; ++i) r.g_idx[size_t(order[size_t(i)])] = int32_t(i / G);
  r.qweight.assign(size_t(K / 8 * N), 0);
  r.qzeros.assign(size_t(groups * (N / 8)), 0);
  r.scales.assign(size_t(groups * N), 0);
  r.deq.assign(size_t(N * K), 0.0f);
  r.deq32.assign(size_t(N * K), 0.0f);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t n = 0; n < N; ++n) {
      float lo = 0.0f, hi = 0.0f;
      for (int64_t i = g * G; i < std::min<int64_t>(K, (g + 1) * G); ++i) {
        const float v = w[size_t(n * K + order[size_t(i)])];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      const uint16_t sbits = f32_to_f16(hi > lo ? (hi - lo) / 15.0f : 1.0f);
      const float scale = f16_to_f32(sbits);
      const int zero = std::clamp(int(std::nearbyint(-lo / scale)), 1, 15);
      r.scales[size_t(g * N + n)] = sbits;
      r.qzeros[size_t(g * (N / 8) + n / 8)] |= int32_t(uint32_t(zero - 1) << (4 * (n % 8)));
      for (int64_t i = g * G; i < std::min<int64_t>(K, (g + 1) * G); ++i) {
        const int64_t k = order[size_t(i)];
        const int q = std::clamp(int(std::nearbyint(w[size_t(n * K + k)] / scale)) + zero, 0, 15);
        r.qweight[size_t((k / 8) * N + n)] |= int32_t(uint32_t(q) << (4 * (k % 8)));
        r.deq32[size_t(n * K + k)] = scale * float(q - zero);
        r.deq[size_t(n * K + k)] = f16_to_f32(f32_to_f16(scale * float(q - zero)));
      }
    }
  return r;
}

}  // namespace si::test
