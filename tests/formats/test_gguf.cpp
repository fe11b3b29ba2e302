// GGUF: llama.cpp's fixture files read correctly and re-write byte for byte; round trips.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap.h"
#include "formats/gguf.h"
#include "test_paths.h"

namespace si {
namespace {

// The "Tensor types per file" table of fixtures/gguf/README.md: tensor, GGUF shape (ne0 first),
// then the type in F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K.
struct Row {
  const char* name;
  std::vector<int64_t> ne;
  std::array<const char*, 8> types;
};
const char* kFiles[8] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"};
#define ALL_F32 {"F32", "F32", "F32", "F32", "F32", "F32", "F32", "F32"}
#define MAT(k4, k5) {"F32", "F16", "BF16", "Q8_0", "Q4_0", k4, k5, "Q6_K"}
const std::vector<Row> kTable = {
    {"rope_freqs.weight", {32}, ALL_F32},
    {"token_embd.weight", {256, 512}, {"F32", "F16", "BF16", "Q8_0", "Q6_K", "Q6_K", "Q6_K", "Q6_K"}},
    {"blk.0.attn_norm.weight", {256}, ALL_F32},
    {"blk.0.ffn_down.weight", {768, 256}, MAT("Q4_K", "Q5_K")},
    {"blk.0.ffn_gate.weight", {256, 768}, MAT("Q4_K", "Q5_K")},
    {"blk.0.ffn_up.weight", {256, 768}, MAT("Q4_K", "Q5_K")},
    {"blk.0.ffn_norm.weight", {256}, ALL_F32},
    {"blk.0.attn_k.weight", {256, 128}, MAT("Q4_K", "Q5_K")},
    {"blk.0.attn_output.weight", {256, 256}, MAT("Q4_K", "Q5_K")},
    {"blk.0.attn_q.weight", {256, 256}, MAT("Q4_K", "Q5_K")},
    {"blk.0.attn_v.weight", {256, 128}, MAT("Q4_K", "Q5_K")},
    {"blk.1.attn_norm.weight", {256}, ALL_F32},
    {"blk.1.ffn_down.weight", {768, 256}, MAT("Q6_K", "Q6_K")},
    {"blk.1.ffn_gate.weight", {256, 768}, MAT("Q4_K", "Q5_K")},
    {"blk.1.ffn_up.weight", {256, 768}, MAT("Q4_K", "Q5_K")},
    {"blk.1.ffn_norm.weight", {256}, ALL_F32},
    {"blk.1.attn_k.weight", {256, 128}, MAT("Q4_K", "Q5_K")},
    {"blk.1.attn_output.weight", {256, 256}, MAT("Q4_K", "Q5_K")},
    {"blk.1.attn_q.weight", {256, 256}, MAT("Q4_K", "Q5_K")},
    {"blk.1.attn_v.weight", {256, 128}, MAT("Q6_K", "Q6_K")},
    {"output_norm.weight", {256}, ALL_F32},
};
const std::map<std::string, uint64_t> kFileSizes = {
    {"F32", 6834848}, {"F16", 3426976}, {"BF16", 3426976}, {"Q8_0", 1829536},
    {"Q4_0", 1011360}, {"Q4_K_M", 1070496}, {"Q5_K_M", 1238432}, {"Q6_K", 1416864},
};

// Bytes per row of ne0 elements, written out per type (not from core/dtype) so a wrong table there shows.
uint64_t row_bytes(const std::string& type, int64_t ne0) {
  if (type == "F32") return 4 * ne0;
  if (type == "F16" || type == "BF16") return 2 * ne0;
  if (type == "Q8_0") return ne0 / 32 * 34;
  if (type == "Q4_0") return ne0 / 32 * 18;
  if (type == "Q4_K") return ne0 / 256 * 144;
  if (type == "Q5_K") return ne0 / 256 * 176;
  if (type == "Q6_K") return ne0 / 256 * 210;
  ADD_FAILURE() << "type " << type;
  return 0;
}

TEST(Gguf, EveryFixtureMatchesTheReadmeTable) {
  for (int f = 0; f < 8; ++f) {
    const std::string path = test::fixture(std::string("gguf/model-") + kFiles[f] + ".gguf");
    SI_REQUIRE_FIXTURE(path);
    SCOPED_TRACE(path);
    const GgufFile g = GgufFile::open(path);
    EXPECT_EQ(g.version(), 3u);
    EXPECT_EQ(g.alignment(), 32u);
    EXPECT_EQ(g.file_size(), kFileSizes.at(kFiles[f]));
    ASSERT_EQ(g.tensors().size(), kTable.size());
    uint64_t sum_padded = 0;
    for (const Row& row : kTable) {
      const GgufTensorInfo* t = g.find_tensor(row.name);
      ASSERT_NE(t, nullptr) << row.name;
      EXPECT_EQ(dtype_name(t->dtype), row.types[size_t(f)]) << row.name;
      Shape want(row.ne.rbegin(), row.ne.rend());
      EXPECT_EQ(t->shape, want) << row.name;
      const uint64_t rows = row.ne.size() > 1 ? uint64_t(row.ne[1]) : 1;
      EXPECT_EQ(t->bytes, row_bytes(row.types[size_t(f)], row.ne[0]) * rows) << row.name;
      EXPECT_EQ(t->offset % 32, 0u);
      sum_padded += (t->bytes + 31) / 32 * 32;
      const TensorView v = g.view(*t);
      EXPECT_EQ(v.bytes(), t->bytes);
      EXPECT_EQ(static_cast<const uint8_t*>(v.data), g.data() + g.data_offset() + t->offset);
    }
    // Tensors tile the data section exactly, in file order, each padded to the alignment.
    uint64_t expect_offset = 0;
    for (const auto& t : g.tensors()) {
      EXPECT_EQ(t.offset, expect_offset) << t.name;
      expect_offset += (t.bytes + 31) / 32 * 32;
    }
    EXPECT_EQ(g.data_offset() + sum_padded, g.file_size());
    const std::map<std::string, uint32_t> file_type = {{"F32", 0}, {"F16", 1}, {"BF16", 32}, {"Q8_0", 7},
                                                       {"Q4_0", 2}, {"Q4_K_M", 15}, {"Q5_K_M", 17}, {"Q6_K", 18}};
    EXPECT_EQ(g.get_u32("general.file_type"), file_type.at(kFiles[f]));
  }
}

TEST(Gguf, F32FixtureMetadataAndValues) {
  const std::string path = test::fixture("gguf/model-F32.gguf");
  SI_REQUIRE_FIXTURE(path);
  const GgufFile g = GgufFile::open(path);
  const std::vector<std::string> keys = {
      "general.architecture", "general.type", "general.name", "general.size_label", "llama.block_count",
      "llama.context_length", "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
      "llama.attention.head_count_kv", "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon",
      "llama.attention.key_length", "llama.attention.value_length", "general.file_type", "llama.vocab_size",
      "llama.rope.dimension_count", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
      "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
      "general.quantization_version"};
  ASSERT_EQ(g.metadata().size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(g.metadata()[i].key, keys[i]);
  EXPECT_EQ(g.get_string("general.name"), "tiny-random-llama3 fixture A");
  EXPECT_EQ(g.get_u32("llama.block_count"), 2u);
  EXPECT_EQ(g.get_i64("llama.context_length"), 2048);
  EXPECT_EQ(g.get_f32("llama.rope.freq_base"), 500000.0f);
  EXPECT_EQ(g.get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  const auto& tokens = g.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "!");
  EXPECT_EQ(tokens[510], "<|begin_of_text|>");
  EXPECT_EQ(tokens[511], "<|end_of_text|>");
  const auto types = g.get_i32_array("tokenizer.ggml.token_type");
  ASSERT_EQ(types.size(), 512u);
  EXPECT_EQ(types[0], 1);
  EXPECT_EQ(types[510], 3);
  EXPECT_EQ(g.get_string_array("tokenizer.ggml.merges").size(), 293u);
  EXPECT_EQ(g.get_u32("tokenizer.ggml.bos_token_id"), 510u);
  EXPECT_EQ(g.find("no.such.key"), nullptr);
  // The llama3 RoPE factors the converter computed (README).
  const TensorView rf = g.view("rope_freqs.weight");
  ASSERT_EQ(rf.numel(), 32);
  EXPECT_EQ(rf.as<float>()[0], 1.0f);
  EXPECT_FLOAT_EQ(rf.as<float>()[15], 1.65132928f);
  EXPECT_FLOAT_EQ(rf.as<float>()[17], 9.66673088f);
  EXPECT_EQ(rf.as<float>()[31], 32.0f);
  // Tensor order is the converter's: rope_freqs first, token_embd second.
  EXPECT_EQ(g.tensors()[0].name, "rope_freqs.weight");
  EXPECT_EQ(g.tensors()[1].name, "token_embd.weight");
}

TEST(Gguf, GettersNameFileAndKeyOnError) {
  const std::string path = test::fixture("gguf/model-F32.gguf");
  SI_REQUIRE_FIXTURE(path);
  const GgufFile g = GgufFile::open(path);
  auto message = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string missing = message([&] { g.get_u32("llama.nope"); });
  EXPECT_NE(missing.find(path), std::string::npos) << missing;
  EXPECT_NE(missing.find("'llama.nope' is missing"), std::string::npos) << missing;
  const std::string wrong = message([&] { g.get_string("llama.block_count"); });
  EXPECT_NE(wrong.find("'llama.block_count' is UINT32"), std::string::npos) << wrong;
  EXPECT_NE(message([&] { g.get_u32("general.name"); }).find("expected an integer"), std::string::npos);
  EXPECT_NE(message([&] { g.get_string_array("tokenizer.ggml.token_type"); }).find("ARRAY of INT32"), std::string::npos);
  EXPECT_NE(message([&] { g.get_f32_array("tokenizer.ggml.tokens"); }).find("expected ARRAY of FLOAT32"), std::string::npos);
  EXPECT_NE(message([&] { g.get_bool("llama.block_count"); }).find("expected BOOL"), std::string::npos);
  EXPECT_NE(message([&] { g.view("nope.weight"); }).find("tensor 'nope.weight' not found"), std::string::npos);
}

// Re-writing a fixture's metadata and tensors reproduces it byte for byte (gguf-py wrote F32,
// llama.cpp's gguf.cpp wrote the quantized ones).
TEST(Gguf, RewriteFixturesByteForByte) {
  for (const char* name : {"F32", "F16", "Q4_K_M", "Q8_0"}) {
    const std::string path = test::fixture(std::string("gguf/model-") + name + ".gguf");
    SI_REQUIRE_FIXTURE(path);
    SCOPED_TRACE(path);
    const GgufFile g = GgufFile::open(path);
    GgufWriter w;
    for (const auto& kv : g.metadata()) w.set(kv.key, kv.value);
    for (const auto& t : g.tensors()) w.add_tensor(t.name, t.dtype, t.shape, g.view(t).data);
    const std::string out = (test::temp_dir() / "rewrite.gguf").string();
    w.write(out);
    const std::string a = read_file(path), b = read_file(out);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_TRUE(a == b);
  }
}

TEST(Gguf, RoundTripEveryValueType) {
  GgufWriter w;
  w.set("t.u8", GgufValue::of<uint8_t>(250));
  w.set("t.i8", GgufValue::of<int8_t>(-120));
  w.set("t.u16", GgufValue::of<uint16_t>(65000));
  w.set("t.i16", GgufValue::of<int16_t>(-32000));
  w.set("t.u32", GgufValue::of<uint32_t>(4000000000u));
  w.set("t.i32", GgufValue::of<int32_t>(-2000000000));
  w.set("t.f32", GgufValue::of(-0.0f));
  w.set("t.bool", GgufValue::of(true));
  w.set("t.string", GgufValue::of("Grüße, 牛奶 🛒"));
  w.set("t.u64", GgufValue::of<uint64_t>(18000000000000000000ull));
  w.set("t.i64", GgufValue::of<int64_t>(-9000000000000000000ll));
  w.set("t.f64", GgufValue::of(3.141592653589793));
  w.set("a.u8", GgufValue::array<uint8_t>({0, 1, 255}));
  w.set("a.i8", GgufValue::array<int8_t>({-128, 127}));
  w.set("a.u16", GgufValue::array<uint16_t>({1, 65535}));
  w.set("a.i16", GgufValue::array<int16_t>({-1, 2}));
  w.set("a.u32", GgufValue::array<uint32_t>({7, 4294967295u}));
  w.set("a.i32", GgufValue::array<int32_t>({-5, 6, 7}));
  w.set("a.f32", GgufValue::array<float>({1.5f, -2.25f}));
  w.set("a.bool", GgufValue::array<bool>({true, false, true}));
  w.set("a.string", GgufValue::array<std::string>({"", "a b", "Ġthe", "<|end_of_text|>"}));
  w.set("a.u64", GgufValue::array<uint64_t>({1, 2}));
  w.set("a.i64", GgufValue::array<int64_t>({-1}));
  w.set("a.f64", GgufValue::array<double>({0.1, 1e300}));
  w.set("a.empty", GgufValue::array<int32_t>({}));
  w.set("t.u8", GgufValue::of<uint8_t>(251));  // replace in place: keeps position 0
  w.set_alignment(64);
  const std::vector<float> a(64 * 3, 0.5f);
  std::vector<uint16_t> h(32 * 2);
  for (size_t i = 0; i < h.size(); ++i) h[i] = uint16_t(i * 977);
  w.add_tensor("a", DType::F32, {3, 64}, a.data());
  w.add_tensor("h", DType::F16, {2, 32}, [&](const GgufWriter::ByteSink& emit) {
    emit(h.data(), 40);  // in two pieces
    emit(reinterpret_cast<const uint8_t*>(h.data()) + 40, h.size() * 2 - 40);
  });
  const auto dir = test::temp_dir();
  const std::string path = (dir / "all.gguf").string();
  w.write(path);

  const GgufFile g = GgufFile::open(path);
  EXPECT_EQ(g.alignment(), 64u);
  ASSERT_EQ(g.metadata().size(), w.metadata().size());
  for (size_t i = 0; i < g.metadata().size(); ++i) {
    EXPECT_EQ(g.metadata()[i].key, w.metadata()[i].key);
    EXPECT_TRUE(g.metadata()[i].value == w.metadata()[i].value) << g.metadata()[i].key;
  }
  EXPECT_EQ(g.metadata()[0].key, "t.u8");
  EXPECT_EQ(*g.find("t.u8")->get_if<uint8_t>(), 251);
  EXPECT_EQ(g.get_u32("t.u32"), 4000000000u);
  EXPECT_EQ(g.get_i64("t.i64"), -9000000000000000000ll);
  EXPECT_TRUE(std::signbit(g.get_f32("t.f32")));
  EXPECT_TRUE(g.get_bool("t.bool"));
  EXPECT_EQ(g.get_string("t.string"), "Grüße, 牛奶 🛒");
  EXPECT_EQ(*g.find("t.f64")->get_if<double>(), 3.141592653589793);
  EXPECT_EQ(g.get_string_array("a.string")[2], "Ġthe");
  EXPECT_EQ(g.get_i32_array("a.i32"), (std::vector<int32_t>{-5, 6, 7}));
  EXPECT_EQ(g.get_i32_array("a.u8"), (std::vector<int32_t>{0, 1, 255}));
  EXPECT_EQ(g.get_f32_array("a.f32"), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(g.find("a.bool")->array_as<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(g.find("a.f64")->array_as<double>(), (std::vector<double>{0.1, 1e300}));
  EXPECT_EQ(g.find("a.u64")->array_as<uint64_t>(), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(g.find("a.empty")->array_size(), 0u);
  EXPECT_THROW(g.get_i32_array("a.u32"), Error);  // 4294967295 does not fit INT32
  EXPECT_EQ(g.get_u32("t.u8"), 251u);              // any integer type that fits
  EXPECT_THROW(g.get_u32("t.i8"), Error);          // negative

  ASSERT_EQ(g.tensors().size(), 2u);
  EXPECT_EQ(g.tensors()[1].offset, 768u);  // 3*64*4 = 768, already 64-aligned
  EXPECT_EQ(std::memcmp(g.view("a").data, a.data(), a.size() * 4), 0);
  EXPECT_EQ(std::memcmp(g.view("h").data, h.data(), h.size() * 2), 0);
  EXPECT_EQ(g.view("h").shape, (Shape{2, 32}));

  // Writing what we read gives the same bytes again.
  GgufWriter w2;
  for (const auto& kv : g.metadata()) w2.set(kv.key, kv.value);
  for (const auto& t : g.tensors()) w2.add_tensor(t.name, t.dtype, t.shape, g.view(t).data);
  const std::string path2 = (dir / "again.gguf").string();
  w2.write(path2);
  EXPECT_TRUE(read_file(path) == read_file(path2));
}

TEST(Gguf, ValueDisplayAbbreviatesArrays) {
  std::vector<int32_t> many(100);
  for (int i = 0; i < 100; ++i) many[size_t(i)] = i;
  EXPECT_EQ(GgufValue::array(many).to_string(3), "[0, 1, 2, ...] (100 x INT32)");
  EXPECT_EQ(GgufValue::array<std::string>({"a", "\"b\""}).to_string(), "[\"a\", \"\\\"b\\\"\"] (2 x STRING)");
  EXPECT_EQ(GgufValue::of<uint8_t>(7).to_string(), "7");
  EXPECT_EQ(GgufValue::of(1e-5f).to_string(), "1e-05");
  const auto j = GgufValue::array(many).to_json(4);
  EXPECT_EQ(j["count"], 100);
  EXPECT_EQ(j["items"].size(), 4u);
  EXPECT_EQ(j["truncated"], true);
}

TEST(Gguf, WriterRejectsBadTensors) {
  GgufWriter w;
  const float x[256] = {};
  EXPECT_THROW(w.add_tensor("q", DType::Q4_K, {2, 100}, x), Error);  // 100 % 256 != 0
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), DType::F32, {1}, x), Error);
  EXPECT_THROW(w.add_tensor("five", DType::F32, {1, 1, 1, 1, 1}, x), Error);
  EXPECT_THROW(w.add_tensor("zero", DType::F32, {0, 4}, x), Error);
  w.add_tensor("ok", DType::F32, {4}, x);
  EXPECT_THROW(w.add_tensor("ok", DType::F32, {4}, x), Error);
  EXPECT_THROW(w.set("general.alignment", GgufValue::of<uint32_t>(48)), Error);
  EXPECT_THROW(w.set("bad", GgufValue::of(std::string("\xff\xfe"))), Error);
  // A source that under-delivers leaves no file behind.
  w.add_tensor("short", DType::F32, {4}, [](const GgufWriter::ByteSink& emit) { emit("abcd", 4); });
  const auto path = test::temp_dir() / "short.gguf";
  EXPECT_THROW(w.write(path.string()), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace si
