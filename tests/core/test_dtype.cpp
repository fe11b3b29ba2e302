#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/error.h"

namespace si {
namespace {

TEST(DType, GgmlIdsAndSizesMatchGgml) {
  // Values from ggml.h (type ids) and ggml-common.h (block sizes), which GGUF files store.
  struct Row { DType t; uint32_t id; int block; int bytes; };
  const Row rows[] = {{DType::F32, 0, 1, 4},    {DType::F16, 1, 1, 2},     {DType::Q4_0, 2, 32, 18},
                      {DType::Q8_0, 8, 32, 34}, {DType::Q4_K, 12, 256, 144}, {DType::Q5_K, 13, 256, 176},
                      {DType::Q6_K, 14, 256, 210}, {DType::Q8_K, 15, 256, 292}, {DType::BF16, 30, 1, 2}};
  for (const auto& r : rows) {
    EXPECT_EQ(dtype_from_ggml(r.id), r.t);
    EXPECT_EQ(dtype_block_size(r.t), r.block);
    EXPECT_EQ(dtype_type_size(r.t), r.bytes);
  }
  EXPECT_FALSE(dtype_from_ggml(3).has_value());  // Q4_1: not supported
  EXPECT_EQ(dtype_row_bytes(DType::Q4_K, 2048), 8u * 144u);
  EXPECT_EQ(dtype_from_name("q6_k"), DType::Q6_K);
}

TEST(Error, ComposesLocation) {
  Error e("bad magic");
  e.at("m.gguf", 0).hint("is this a GGUF file?");
  EXPECT_STREQ(e.what(), "m.gguf: bad magic (at byte 0); is this a GGUF file?");
  Error l("unknown intent 'buy'");
  l.at_line("rows.jsonl", 12);
  EXPECT_STREQ(l.what(), "rows.jsonl:12: unknown intent 'buy'");
}

}  // namespace
}  // namespace si
