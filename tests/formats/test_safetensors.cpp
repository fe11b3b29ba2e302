// safetensors: the fixture reads and re-writes byte for byte, the python library's own test vectors,
// round trips (single and sharded), and malformed files.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap.h"
#include "formats/safetensors.h"
#include "test_paths.h"

namespace si {
namespace {

namespace fs = std::filesystem;

std::string write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
  return path.string();
}

std::string with_header(const std::string& json, const std::string& data) {
  uint64_t n = json.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + json + data;
}

TEST(Safetensors, FixtureReads) {
  const std::string path = test::fixture("gguf/hf/model.safetensors");
  SI_REQUIRE_FIXTURE(path);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.header_size(), 2120u);
  EXPECT_EQ(f.file_size(), 6822992u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.tensors().size(), 20u);  // embeddings, 2 x 9 per layer, final norm
  EXPECT_EQ(f.tensor_bytes(), f.file_size() - f.data_offset());
  const SafetensorsTensor& e = f.get("model.embed_tokens.weight");
  EXPECT_EQ(e.dtype, DType::F32);
  EXPECT_EQ(e.shape, (Shape{512, 256}));
  EXPECT_EQ(e.begin, 0u);  // sorted by name: embed_tokens comes first
  EXPECT_EQ(f.get("model.layers.0.self_attn.k_proj.weight").shape, (Shape{128, 256}));
  EXPECT_EQ(f.get("model.layers.1.mlp.down_proj.weight").shape, (Shape{256, 768}));
  EXPECT_EQ(f.find("lm_head.weight"), nullptr);  // tied
  // Tensors follow each other without gaps, in name order.
  uint64_t at = 0;
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    EXPECT_EQ(f.tensors()[i].begin, at);
    if (i > 0) {
      EXPECT_LT(f.tensors()[i - 1].name, f.tensors()[i].name);
    }
    at = f.tensors()[i].end;
  }
  // RMSNorm weights are 1 + 0.1 * N(0, 1): all near 1.
  const SafetensorsTensor& norm = f.get("model.norm.weight");
  for (int64_t i = 0; i < norm.view.numel(); ++i) EXPECT_NEAR(norm.view.as<float>()[i], 1.0f, 0.6f);
}

TEST(Safetensors, RewriteFixtureByteForByte) {
  const std::string path = test::fixture("gguf/hf/model.safetensors");
  SI_REQUIRE_FIXTURE(path);
  const SafetensorsFile f = SafetensorsFile::open(path);
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (size_t i = f.tensors().size(); i-- > 0;) w.add(f.tensors()[i]);  // any insertion order
  const std::string out = (test::temp_dir() / "model.safetensors").string();
  w.write(out);
  EXPECT_TRUE(read_file(out) == read_file(path));
}

// The byte vectors of safetensors/src/tensor.rs tests (test_serialization, test_empty,
// test_serialization_forced_alignement).
TEST(Safetensors, PythonLibraryTestVectors) {
  const float v[6] = {0, 1, 2, 3, 4, 5};
  const auto dir = test::temp_dir();
  {
    SafetensorsWriter w;
    w.add("attn.0", DType::F32, {1, 2, 3}, v);
    w.write((dir / "a.safetensors").string());
    const std::string json = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
    EXPECT_EQ(json.size(), 64u);
    EXPECT_TRUE(read_file((dir / "a.safetensors").string()) == with_header(json, std::string(reinterpret_cast<const char*>(v), 24)));
  }
  {
    SafetensorsWriter w;
    w.write((dir / "empty.safetensors").string());
    EXPECT_EQ(read_file((dir / "empty.safetensors").string()), with_header("{}      ", ""));
    w.set_metadata("framework", "pt");
    w.write((dir / "empty2.safetensors").string());
    EXPECT_EQ(read_file((dir / "empty2.safetensors").string()), with_header(R"({"__metadata__":{"framework":"pt"}}     )", ""));
  }
  {
    SafetensorsWriter w;
    w.add("attn0", DType::F32, {1, 1, 2, 3}, v);
    w.write((dir / "b.safetensors").string());
    const std::string json = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + std::string(7, ' ');
    EXPECT_EQ(json.size(), 72u);
    EXPECT_TRUE(read_file((dir / "b.safetensors").string()) == with_header(json, std::string(reinterpret_cast<const char*>(v), 24)));
  }
}

TEST(Safetensors, RoundTripAllDtypesOrderedByAlignmentThenName) {
  const double f64[2] = {1.5, -2.5};
  const float f32[3] = {1, 2, 3};
  const uint16_t f16[2] = {0x3c00, 0xc000}, bf16[1] = {0x3f80};
  const int64_t i64[1] = {-7};
  const int32_t i32[2] = {5, 6};
  const int16_t i16[1] = {-3};
  const int8_t i8[2] = {-1, 1};
  const uint8_t u8[1] = {200}, b[2] = {1, 0};
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.set_metadata("note", "Grüße \"quoted\"");
  w.add("z.u8", DType::U8, {1}, u8);
  w.add("b.bool", DType::BOOL, {2}, b);
  w.add("c.f32", DType::F32, {3}, f32);
  w.add("a.f32", DType::F32, {1, 3}, f32);
  w.add("f16", DType::F16, {2}, f16);
  w.add("bf16", DType::BF16, {1, 1}, bf16);
  w.add("i64", DType::I64, {1}, i64);
  w.add("f64", DType::F64, {2}, f64);
  w.add("i32", DType::I32, {2}, i32);
  w.add("i16", DType::I16, {1}, i16);
  w.add("i8", DType::I8, {2}, i8);
  w.add("scalar", DType::F32, {}, f32);
  w.add("empty", DType::F32, {0, 4}, nullptr);
  const std::string path = (test::temp_dir() / "all.safetensors").string();
  w.write(path);

  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.header_size() % 8, 0u);
  EXPECT_EQ(f.metadata().at("note"), "Grüße \"quoted\"");
  std::vector<std::string> names;
  for (const auto& t : f.tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"i64", "f64", "a.f32", "c.f32", "empty", "scalar", "i32", "bf16", "f16", "i16",
                                             "i8", "z.u8", "b.bool"}));
  EXPECT_EQ(f.get("f64").view.as<double>()[1], -2.5);
  EXPECT_EQ(f.get("i64").view.as<int64_t>()[0], -7);
  EXPECT_EQ(f.get("bf16").dtype, DType::BF16);
  EXPECT_EQ(f.get("bf16").view.as<uint16_t>()[0], 0x3f80);
  EXPECT_EQ(f.get("f16").view.as<uint16_t>()[1], 0xc000);
  EXPECT_EQ(f.get("i8").view.as<int8_t>()[0], -1);
  EXPECT_EQ(f.get("b.bool").dtype, DType::BOOL);
  EXPECT_EQ(f.get("scalar").shape, Shape{});
  EXPECT_EQ(f.get("scalar").bytes(), 4u);
  EXPECT_EQ(f.get("empty").bytes(), 0u);
  EXPECT_EQ(f.get("empty").shape, (Shape{0, 4}));
  // Read -> write gives the same bytes.
  SafetensorsWriter w2;
  for (const auto& [k, v] : f.metadata()) w2.set_metadata(k, v);
  for (const auto& t : f.tensors()) w2.add(t);
  const std::string path2 = (fs::path(path).parent_path() / "again.safetensors").string();
  w2.write(path2);
  EXPECT_TRUE(read_file(path) == read_file(path2));
}

TEST(Safetensors, ShardedRoundTrip) {
  // Five tensors of 64, 64, 200, 64, 32 floats: with a 800-byte limit (200 floats), the 200-float
  // tensor (800 bytes) still fits a shard alone; 64+64 = 512 bytes, then 800 starts a new one, etc.
  std::vector<std::vector<float>> data;
  const std::vector<int64_t> sizes = {64, 64, 200, 64, 32};
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  data.reserve(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    data.emplace_back(size_t(sizes[i]));
    for (size_t k = 0; k < data[i].size(); ++k) data[i][k] = float(i * 1000 + k);
  }
  const std::vector<std::string> names = {"model.layers.0.w", "model.layers.0.v", "model.big", "model.layers.1.w", "model.norm"};
  for (size_t i = 0; i < sizes.size(); ++i) w.add(names[i], DType::F32, {sizes[i]}, data[i].data());
  const auto dir = test::temp_dir() / "sharded";
  const auto files = w.write_sharded(dir.string(), 800);
  ASSERT_EQ(files.size(), 4u);  // 3 shards + index
  EXPECT_EQ(fs::path(files[0]).filename(), "model-00001-of-00003.safetensors");
  EXPECT_EQ(fs::path(files[3]).filename(), "model.safetensors.index.json");
  const std::string index = read_file(files[3]);
  const auto j = nlohmann::json::parse(index);
  EXPECT_EQ(j["metadata"]["total_size"], (64 + 64 + 200 + 64 + 32) * 4);
  EXPECT_EQ(j["weight_map"]["model.big"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(j["weight_map"]["model.norm"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index.substr(0, 41), "{\n  \"metadata\": {\n    \"total_size\": 1696\n");  // python json.dumps(indent=2)
  EXPECT_EQ(index.back(), '\n');

  const SafetensorsModel m = SafetensorsModel::open(dir.string());
  EXPECT_EQ(m.shards().size(), 3u);
  EXPECT_EQ(m.tensors().size(), 5u);
  EXPECT_EQ(m.tensor_bytes(), 1696u);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const SafetensorsTensor& t = m.get(names[i]);
    EXPECT_EQ(t.shape, Shape{sizes[i]});
    EXPECT_EQ(std::memcmp(t.view.data, data[i].data(), data[i].size() * 4), 0) << names[i];
  }
  EXPECT_THROW(m.get("nope"), Error);
  // The index itself opens the same model.
  EXPECT_EQ(SafetensorsModel::open(files[3]).tensors().size(), 5u);

  // A limit large enough for everything writes one model.safetensors, no index.
  const auto one = w.write_sharded((test::temp_dir() / "one").string(), 1 << 20);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(fs::path(one[0]).filename(), "model.safetensors");
  EXPECT_EQ(SafetensorsModel::open(fs::path(one[0]).parent_path().string()).tensors().size(), 5u);
}

TEST(Safetensors, ShardedIndexErrors) {
  const float x[4] = {1, 2, 3, 4};
  SafetensorsWriter w;
  w.add("a", DType::F32, {4}, x);
  w.add("b", DType::F32, {4}, x);
  const auto dir = test::temp_dir();
  const auto files = w.write_sharded(dir.string(), 16);
  ASSERT_EQ(files.size(), 3u);
  write_bytes(dir / "model.safetensors.index.json",
              R"({"metadata": {}, "weight_map": {"a": "model-00002-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  try {
    SafetensorsModel::open(dir.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_map puts tensor 'a' in"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.safetensors.index.json"), std::string::npos) << e.what();
  }
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map": {"a": "missing.safetensors"}})");
  EXPECT_THROW(SafetensorsModel::open(dir.string()), Error);
  write_bytes(dir / "model.safetensors.index.json", "{\"weight_map\": ");
  try {
    SafetensorsModel::open(dir.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SafetensorsModel::open((dir / "nothing-here").string()), Error);
}

std::string open_error(const std::string& bytes) {
  const std::string path = write_bytes(test::temp_dir() / "bad.safetensors", bytes);
  try {
    SafetensorsFile::open(path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "";
}

#define EXPECT_ST_ERROR(bytes, substring)                                          \
  do {                                                                              \
    const std::string msg_ = open_error(bytes);                                     \
    EXPECT_NE(msg_.find(substring), std::string::npos) << "got: '" << msg_ << "'";  \
  } while (0)

TEST(SafetensorsMalformed, Cases) {
  const std::string data(24, 'x');
  const std::string good = R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  EXPECT_EQ(open_error(with_header(good, data)), "");
  EXPECT_ST_ERROR(std::string("abc"), "file truncated: 3 bytes");
  EXPECT_ST_ERROR(with_header(good, data).substr(0, 40), "but only 32 bytes follow");
  EXPECT_ST_ERROR(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10), "over the 100 MB limit");
  EXPECT_ST_ERROR(with_header("[1, 2]", ""), "does not start with '{'");
  EXPECT_ST_ERROR(with_header(R"({"t": {"dtype": "F32", )", ""), "header is not valid JSON");
  EXPECT_ST_ERROR(with_header(R"({"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "xx"), "tensor 't': unsupported dtype 'F8_E4M3'");
  EXPECT_ST_ERROR(with_header(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", data),
                  "data_offsets [0, 20] hold 20 bytes but F32 [2,3] needs 24");
  EXPECT_ST_ERROR(with_header(good, data.substr(0, 10)), "tensor 't' data [0, 24) runs past the end of the file (10 data bytes)");
  EXPECT_ST_ERROR(with_header(R"({"t":{"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]}})", data), "not a non-negative integer");
  EXPECT_ST_ERROR(with_header(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,24]}})", data),
                  "overflows");
  EXPECT_ST_ERROR(with_header(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data), "end before they begin");
  EXPECT_ST_ERROR(with_header(R"({"t":{"dtype":"F32","shape":[2]}})", data), "needs \"dtype\", \"shape\" and \"data_offsets\"");
  EXPECT_ST_ERROR(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                              std::string(16, 'x')),
                  "tensors 'a' and 'b' overlap");
  EXPECT_ST_ERROR(with_header(R"({"__metadata__":{"format":1}})", ""), "__metadata__ value 'format' is not a string");
  EXPECT_ST_ERROR(with_header(std::string("{\"\xff\":1}"), ""), "header is not valid JSON");
}

}  // namespace
}  // namespace si
