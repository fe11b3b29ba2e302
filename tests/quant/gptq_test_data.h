// tests/quant/gptq_test_data.h — layers and calibration inputs for the GPTQ tests (CPU and CUDA).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace si::test {

inline std::vector<float> normal(int64_t n, uint32_t seed, float stddev) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// Calibration rows with correlated channels and a few loud ones (as LLM activations have):
// x = z M + noise, with channel scales spread over two orders of magnitude.
inline std::vector<float> correlated_inputs(int64_t rows, int64_t in, uint32_t seed) {
  const int64_t k = in / 4;
  const std::vector<float> z = normal(rows * k, seed, 1.0f), m = normal(k * in, seed + 1, 1.0f / std::sqrt(float(k)));
  std::vector<float> x = normal(rows * in, seed + 2, 0.05f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      const float zr = z[size_t(r * k + j)];
      for (int64_t i = 0; i < in; ++i) x[size_t(r * in + i)] += zr * m[size_t(j * in + i)];
    }
  for (int64_t i = 0; i < in; ++i) {
    const float s = (i % 17 == 0) ? 10.0f : 0.3f + float(i % 5) / 5.0f;
    for (int64_t r = 0; r < rows; ++r) x[size_t(r * in + i)] *= s;
  }
  return x;
}

// Datagen-shaped rows over a small catalog.
inline std::string write_calib(const std::filesystem::path& dir, int n) {
  const std::vector<std::string> cat = {"Roggenbrot 500 g", "Bio-Vollmilch 1 l", "Butter 250 g", "Äpfel 1 kg"};
  std::string rows;
  for (int i = 0; i < n; i++) {
    const nlohmann::json row = {{"catalog", cat},
                                {"request", fmt::format("bitte {} mal {} dazu, danke", 1 + i % 5, cat[size_t(i % 4)])},
                                {"output", {{"intent", i % 3 ? "add" : "remove"}, {"product", cat[size_t(i % 4)]}, {"quantity", 1 + i % 5}}}};
    rows += row.dump() + "\n";
  }
  const std::string path = (dir / "calib.jsonl").string();
  write_file_atomic(path, rows);
  return path;
}

}  // namespace si::test
