// quant/gguf_quantize.h against llama.cpp's own files (../shared/fixtures/gguf): the F32 conversion
// of hf/ is model-F32.gguf byte for byte; quantizing model-F32.gguf gives llama-quantize's files
// byte for byte; quantizing hf/ directly gives the same types and tensor bytes.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"
#include "quant/gguf_quantize.h"
#include "quant/gguf_types.h"
#include "quant/hf_to_gguf.h"
#include "test_paths.h"

namespace si {
namespace {

const char* kFixtureName = "tiny-random-llama3 fixture A";

std::vector<char> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Index of the first differing byte, or -1 when the files are identical.
int64_t first_difference(const std::string& a, const std::string& b) {
  const auto x = slurp(a), y = slurp(b);
  const size_t n = std::min(x.size(), y.size());
  for (size_t i = 0; i < n; ++i)
    if (x[i] != y[i]) return int64_t(i);
  return x.size() == y.size() ? -1 : int64_t(n);
}

GgufQuantizeResult run(const std::string& model, const std::string& to, const std::string& out) {
  GgufQuantizeOptions o;
  o.model = model;
  o.to = to;
  o.out = out;
  o.name = kFixtureName;
  o.threads = 2;
  o.quiet = true;
  return gguf_quantize(o);
}

TEST(GgufQuantize, HfToF32IsTheConverterFileByteForByte) {
  const std::string hf = test::fixture("gguf/hf"), want = test::fixture("gguf/model-F32.gguf");
  SI_REQUIRE_FIXTURE(want);
  const std::string out = (test::temp_dir() / "f32.gguf").string();
  const auto r = run(hf, "F32", out);
  EXPECT_EQ(r.n_tensors, 21);
  EXPECT_EQ(first_difference(out, want), -1);
}

class FromF32Gguf : public ::testing::TestWithParam<std::string> {};

TEST_P(FromF32Gguf, IsLlamaQuantizeFileByteForByte) {
  const std::string src = test::fixture("gguf/model-F32.gguf");
  const std::string want = test::fixture("gguf/model-" + GetParam() + ".gguf");
  SI_REQUIRE_FIXTURE(want);
  const std::string out = (test::temp_dir() / "q.gguf").string();
  run(src, GetParam(), out);
  EXPECT_EQ(first_difference(out, want), -1);
}

TEST_P(FromF32Gguf, FromHfSameTypesAndBytes) {
  const std::string want_path = test::fixture("gguf/model-" + GetParam() + ".gguf");
  SI_REQUIRE_FIXTURE(want_path);
  const std::string out = (test::temp_dir() / "q.gguf").string();
  run(test::fixture("gguf/hf"), GetParam(), out);
  const GgufFile got = GgufFile::open(out), want = GgufFile::open(want_path);
  ASSERT_EQ(got.tensors().size(), want.tensors().size());
  for (const auto& w : want.tensors()) {
    const GgufTensorInfo* g = got.find_tensor(w.name);
    ASSERT_NE(g, nullptr) << w.name;
    EXPECT_EQ(g->dtype, w.dtype) << w.name;
    EXPECT_EQ(g->shape, w.shape) << w.name;
    ASSERT_EQ(g->bytes, w.bytes) << w.name;
    EXPECT_EQ(std::memcmp(got.view(*g).data, want.view(w).data, w.bytes), 0) << w.name;
  }
  EXPECT_EQ(got.get_u32("general.file_type"), want.get_u32("general.file_type"));
  EXPECT_EQ(got.get_string_array("tokenizer.ggml.merges"), want.get_string_array("tokenizer.ggml.merges"));
}

INSTANTIATE_TEST_SUITE_P(Types, FromF32Gguf,
                         ::testing::Values("F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// llama.cpp's mix rules on the real Llama 3.2 1B shapes (16 layers, C = 2048, vocab 128256, tied).
TEST(GgufTypes, Llama32MixRules) {
  const GgufTarget q4km = gguf_target_from_name("gguf:q4_k_m");
  EXPECT_EQ(q4km.file_type, 15u);
  const Shape sq = {2048, 2048}, sv = {512, 2048}, sd = {2048, 8192}, se = {128256, 2048};
  EXPECT_EQ(gguf_tensor_type(q4km, "token_embd.weight", se, 16, false), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type(q4km, "token_embd.weight", se, 16, true), DType::Q4_K);  // untied: stays base
  EXPECT_EQ(gguf_tensor_type(q4km, "output.weight", se, 16, true), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type(q4km, "blk.0.attn_norm.weight", {2048}, 16, false), DType::F32);
  int more = 0;
  for (int l = 0; l < 16; ++l) {
    const DType v = gguf_tensor_type(q4km, "blk." + std::to_string(l) + ".attn_v.weight", sv, 16, false);
    const DType d = gguf_tensor_type(q4km, "blk." + std::to_string(l) + ".ffn_down.weight", sd, 16, false);
    EXPECT_EQ(v, d) << l;
    EXPECT_EQ(gguf_tensor_type(q4km, "blk." + std::to_string(l) + ".attn_q.weight", sq, 16, false), DType::Q4_K);
    more += v == DType::Q6_K;
  }
  EXPECT_EQ(more, 8);  // layers 0, 1, 4, 7, 10, 13, 14, 15
  EXPECT_TRUE(gguf_use_more_bits(13, 16));
  EXPECT_FALSE(gguf_use_more_bits(12, 16));
  const GgufTarget q8 = gguf_target_from_name("Q8_0");
  EXPECT_EQ(gguf_tensor_type(q8, "token_embd.weight", se, 16, false), DType::Q8_0);
  const GgufTarget q4 = gguf_target_from_name("Q4_0");
  EXPECT_EQ(gguf_tensor_type(q4, "token_embd.weight", se, 16, false), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type(q4, "token_embd.weight", {1000, 96}, 16, false), DType::Q8_0);  // 96 % 256 != 0
  const GgufTarget q6 = gguf_target_from_name("Q6_K");
  EXPECT_EQ(gguf_tensor_type(q6, "blk.0.attn_q.weight", {96, 96}, 16, false), DType::Q8_0);  // fallback
  EXPECT_THROW(gguf_tensor_type(q4km, "blk.0.attn_q.weight", {96, 96}, 16, false), Error);
  EXPECT_THROW(gguf_target_from_name("Q3_K_S"), Error);
}

TEST(HfToGguf, NamesSizeLabelsAndRopeFactors) {
  EXPECT_EQ(gguf_name_from_hf("model.layers.12.mlp.down_proj.weight"), "blk.12.ffn_down.weight");
  EXPECT_EQ(gguf_name_from_hf("lm_head.weight"), "output.weight");
  EXPECT_THROW(gguf_name_from_hf("model.layers.0.self_attn.qkv_proj.weight"), Error);
  EXPECT_EQ(gguf_size_label(1705216), "1.7M");
  EXPECT_EQ(gguf_size_label(1235814400), "1.2B");
  EXPECT_EQ(gguf_size_label(8030261248), "8.0B");
  // Llama 3.2 1B's rope_scaling: the first factors are 1 (fast frequencies), the last are `factor`.
  const auto cfg = nlohmann::json::parse(R"({"rope_theta": 500000.0, "head_dim": 64, "hidden_size": 2048,
      "num_attention_heads": 32, "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})");
  const auto f = llama3_rope_factors(cfg);
  ASSERT_EQ(f.size(), 32u);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[31], 32.0f);
  EXPECT_GT(f[16], 1.0f);
  EXPECT_LT(f[16], 32.0f);
}

TEST(GgufQuantize, BadInputsAreClearErrors) {
  const auto dir = test::temp_dir();
  const std::string out = (dir / "x.gguf").string();
  EXPECT_THROW(run((dir / "missing").string(), "Q8_0", out), Error);
  EXPECT_THROW(run(test::fixture("gguf/model-F32.gguf"), "Q2_K", out), Error);
  const std::string q = test::fixture("gguf/model-Q8_0.gguf");
  if (std::filesystem::exists(q)) {
    try {
      run(q, "Q4_0", out);
      ADD_FAILURE() << "requantizing must fail";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("already Q8_0"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(std::filesystem::exists(out));  // never a partial output
}

}  // namespace
}  // namespace si
