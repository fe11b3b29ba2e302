// Byte identity with llama.cpp: quantizing every tensor of model-F32.gguf with our reference
// quantizers gives exactly the bytes llama-quantize wrote into model-<TYPE>.gguf.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "formats/gguf.h"
#include "ops/cpu/quants.h"
#include "test_paths.h"

namespace si::cpu {
namespace {

class QuantsGguf : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantsGguf, EveryTensorByteIdenticalToLlamaCpp) {
  const std::string f32_path = test::fixture("gguf/model-F32.gguf");
  const std::string q_path = test::fixture("gguf/model-" + GetParam() + ".gguf");
  SI_REQUIRE_FIXTURE(f32_path);
  SI_REQUIRE_FIXTURE(q_path);
  const GgufFile f32 = GgufFile::open(f32_path);
  const GgufFile q = GgufFile::open(q_path);
  ASSERT_EQ(q.tensors().size(), f32.tensors().size());
  int quantized = 0;
  for (const auto& t : q.tensors()) {
    SCOPED_TRACE(t.name + " (" + std::string(dtype_name(t.dtype)) + ")");
    const GgufTensorInfo* src = f32.find_tensor(t.name);
    ASSERT_NE(src, nullptr);
    ASSERT_EQ(src->dtype, DType::F32);
    ASSERT_EQ(src->shape, t.shape);
    const int64_t n_per_row = t.shape.back();
    const int64_t n_rows = t.numel() / n_per_row;
    std::vector<uint8_t> ours(t.bytes);
    quantize_rows(t.dtype, static_cast<const float*>(f32.view(*src).data), ours.data(), n_rows, n_per_row);
    const auto* theirs = static_cast<const uint8_t*>(q.view(t).data);
    size_t first_diff = ours.size();
    for (size_t i = 0; i < ours.size(); ++i)
      if (ours[i] != theirs[i]) { first_diff = i; break; }
    EXPECT_EQ(first_diff, ours.size()) << "first differing byte " << first_diff << " of " << ours.size();
    if (t.dtype != DType::F32) ++quantized;
  }
  EXPECT_GE(quantized, 14);  // every 2-D tensor of the fixture
}

INSTANTIATE_TEST_SUITE_P(Types, QuantsGguf,
                         ::testing::Values("F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace si::cpu
