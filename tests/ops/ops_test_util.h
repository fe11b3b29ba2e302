// tests/ops/ops_test_util.h — random tensors and comparisons for the op tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/tensor.h"
#include "ops/cpu/isa.h"

namespace si::test {

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline TensorView view(std::vector<float>& v, Shape s) { return TensorView{v.data(), DType::F32, std::move(s)}; }

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Every ISA this CPU supports (the scalar path always).
inline std::vector<cpu::Isa> supported_isas() {
  std::vector<cpu::Isa> out;
  for (auto i : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512})
    if (cpu::isa_supported(i)) out.push_back(i);
  return out;
}

}  // namespace si::test
