// tests/ops/cuda_test_util.h — GPU test helpers: skip without a device, move fp32 host data to and
// from device tensors of any storage type, and compare by relative error.
//
//   SI_REQUIRE_CUDA();
//   test::DeviceTensor x(host, DType::F16, stream);   // uploads round(host) as F16
//   std::vector<float> back = x.download(stream);      // rounded values as fp32
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/half.h"
#include "ops/cuda/device.h"

#define SI_REQUIRE_CUDA()                                                                                \
  do {                                                                                                   \
    if (!::si::cuda::available())                                                                        \
      GTEST_SKIP() << "no CUDA device on this machine: GPU tests run on the GPU machine (scripts/gpu-check.sh)"; \
  } while (0)

namespace si::test {

// fp32 values as they are after rounding to `t` (F32, F16, BF16).
inline std::vector<float> rounded(const std::vector<float>& v, DType t) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = t == DType::F16 ? f16_to_f32(f32_to_f16(v[i])) : t == DType::BF16 ? bf16_to_f32(f32_to_bf16(v[i])) : v[i];
  return out;
}

inline std::vector<uint16_t> to_half_bits(const std::vector<float>& v, DType t) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = t == DType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
  return out;
}

struct DeviceTensor {
  DType t = DType::F32;
  size_t n = 0;
  cuda::DeviceBuffer buf;

  DeviceTensor(const std::vector<float>& host, DType type, const cuda::Stream& s)
      : t(type), n(host.size()), buf(host.size() * (type == DType::F32 ? 4 : 2) + 16, "test tensor") {
    if (t == DType::F32) {
      buf.upload(host.data(), n * 4, s);
    } else {
      const std::vector<uint16_t> bits = to_half_bits(host, t);
      buf.upload(bits.data(), n * 2, s);
      s.sync();  // `bits` dies here
    }
  }
  // An output of n elements, filled with NaN so that unwritten elements fail the comparison.
  DeviceTensor(size_t count, DType type, const cuda::Stream& s)
      : DeviceTensor(std::vector<float>(count, NAN), type, s) {}

  void* data() const { return buf.data(); }
  std::vector<float> download(const cuda::Stream& s) const {
    std::vector<float> out(n);
    if (t == DType::F32) {
      buf.download(out.data(), n * 4, s);
      s.sync();
      return out;
    }
    std::vector<uint16_t> bits(n);
    buf.download(bits.data(), n * 2, s);
    s.sync();
    for (size_t i = 0; i < n; ++i) out[i] = t == DType::F16 ? f16_to_f32(bits[i]) : bf16_to_f32(bits[i]);
    return out;
  }
};

// A host vector in a new device buffer (16 bytes of slack for vector loads past the end), synced.
template <typename T>
cuda::DeviceBuffer upload_vec(const std::vector<T>& v, const cuda::Stream& s) {
  cuda::DeviceBuffer b(v.size() * sizeof(T) + 16, "test");
  b.upload(v.data(), v.size() * sizeof(T), s);
  s.sync();
  return b;
}

// ||a - b|| / ||b||; NaN anywhere gives infinity (so "< tol" fails).
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1.0));
}

// The relative error a result rounded once to `t` may show against the fp32 reference, with room for
// fp32 summation order: F32 ~1e-6, F16 (11-bit mantissa) ~5e-4, BF16 (8-bit) ~4e-3.
inline double tolerance(DType t) { return t == DType::F32 ? 1e-5 : t == DType::F16 ? 2e-3 : 1.5e-2; }

}  // namespace si::test
