// SafetensorsWriter against files the python library wrote (tools/golden/safetensors_layout.py,
// run on the GPU machine; outputs in tests/golden/safetensors_layout/). Skips until they exist.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "core/mmap.h"
#include "formats/safetensors.h"
#include "test_paths.h"

namespace si {
namespace {

const std::string kDir = test::source_path("tests/golden/safetensors_layout");

#define REQUIRE_GOLDEN(path)                                                                              \
  do {                                                                                                    \
    if (!std::filesystem::exists(path))                                                                   \
      GTEST_SKIP() << "golden file " << (path) << " not found: run tools/golden/safetensors_layout.py "  \
                   << "on the GPU machine (scripts/gpu-check.sh goldens)";                                \
  } while (0)

TEST(SafetensorsGolden, MixedDtypesByteForByte) {
  const std::string golden = kDir + "/mixed.safetensors";
  REQUIRE_GOLDEN(golden);
  float w[6], a[1] = {1.0f};
  for (int i = 0; i < 6; ++i) w[i] = float(i) * 0.5f;
  uint16_t bf[4], h[4];
  for (int i = 0; i < 4; ++i) bf[i] = f32_to_bf16(float(i)), h[i] = f32_to_f16(float(i) * 0.25f);
  const int64_t x[3] = {-1, 0, 1};
  const uint8_t m[5] = {0, 1, 2, 3, 4}, e[3] = {0, 1, 0};
  const double z[2] = {0.0, 1.0 / 3.0};
  const int32_t k[2] = {7, -7};
  const int16_t s[2] = {300, -300};
  const int8_t t[2] = {-5, 5};
  SafetensorsWriter out;
  out.set_metadata("format", "pt");
  out.add("w.f32", DType::F32, {2, 3}, w);
  out.add("b.bf16", DType::BF16, {4}, bf);
  out.add("x.i64", DType::I64, {3}, x);
  out.add("m.u8", DType::U8, {5}, m);
  out.add("f.f16", DType::F16, {2, 2}, h);
  out.add("e.bool", DType::BOOL, {3}, e);
  out.add("z.f64", DType::F64, {2}, z);
  out.add("k.i32", DType::I32, {2}, k);
  out.add("s.i16", DType::I16, {2}, s);
  out.add("t.i8", DType::I8, {2}, t);
  out.add("a.f32", DType::F32, {1}, a);
  const std::string path = (test::temp_dir() / "mixed.safetensors").string();
  out.write(path);
  const std::string ours = read_file(path), theirs = read_file(golden);
  EXPECT_EQ(ours.substr(0, 8 + SafetensorsFile::open(golden).header_size()),
            theirs.substr(0, 8 + SafetensorsFile::open(golden).header_size()));
  EXPECT_TRUE(ours == theirs);
}

TEST(SafetensorsGolden, ShardSplitLikeHuggingfaceHub) {
  const std::string golden = kDir + "/shards.json";
  REQUIRE_GOLDEN(golden);
  const auto want = nlohmann::json::parse(read_file(golden));
  const std::vector<std::string> names = {"model.layers.0.w", "model.layers.0.v", "model.big", "model.layers.1.w", "model.norm"};
  const std::vector<int64_t> sizes = {64, 64, 200, 64, 32};
  std::vector<float> zeros(200);
  SafetensorsWriter out;
  for (size_t i = 0; i < names.size(); ++i) out.add(names[i], DType::F32, {sizes[i]}, zeros.data());
  const auto dir = test::temp_dir();
  out.write_sharded(dir.string(), want["max_shard_size"].get<uint64_t>());
  const auto index = nlohmann::json::parse(read_file((dir / "model.safetensors.index.json").string()));
  std::map<std::string, std::vector<std::string>> got;
  for (const auto& name : names) got[index["weight_map"][name].get<std::string>()].push_back(name);
  std::map<std::string, std::vector<std::string>> expect = want["filename_to_tensors"];
  for (auto& [f, v] : expect) std::sort(v.begin(), v.end());
  for (auto& [f, v] : got) std::sort(v.begin(), v.end());
  EXPECT_EQ(got, expect);
  EXPECT_EQ(index["metadata"]["total_size"], want["metadata"]["total_size"]);
}

}  // namespace
}  // namespace si
