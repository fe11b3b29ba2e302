// LlamaConfig: HF config.json and GGUF llama.* keys give the same config; presets; errors.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap.h"
#include "formats/gguf.h"
#include "formats/llama_config.h"
#include "test_paths.h"

namespace si {
namespace {

using json = nlohmann::json;

void expect_same(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
}

TEST(LlamaConfig, FixtureHfJsonEqualsGguf) {
  const std::string cfg = test::fixture("gguf/hf/config.json");
  SI_REQUIRE_FIXTURE(cfg);
  const LlamaConfig hf = llama_config_from_hf_file(cfg);
  EXPECT_EQ(hf.vocab_size, 512);
  EXPECT_EQ(hf.hidden_size, 256);
  EXPECT_EQ(hf.n_kv_heads, 2);
  EXPECT_EQ(hf.kv_dim(), 128);
  EXPECT_EQ(hf.q_dim(), 256);
  EXPECT_EQ(hf.rope_scaling.type, "llama3");
  EXPECT_EQ(hf.rope_scaling.factor, 32.0f);
  EXPECT_TRUE(hf.tie_word_embeddings);
  EXPECT_EQ(hf.bos_token_id, 510);
  for (const char* name : {"F32", "Q4_K_M"}) {
    const std::string path = test::fixture(std::string("gguf/model-") + name + ".gguf");
    SI_REQUIRE_FIXTURE(path);
    SCOPED_TRACE(path);
    expect_same(llama_config_from_gguf(GgufFile::open(path)), hf);
  }
}

TEST(LlamaConfig, ToHfJsonMatchesTransformersAndRoundTrips) {
  const std::string cfg = test::fixture("gguf/hf/config.json");
  SI_REQUIRE_FIXTURE(cfg);
  json want = json::parse(read_file(cfg));
  want.erase("transformers_version");
  const json got = llama_config_to_hf_json(llama_config_from_hf_file(cfg));
  EXPECT_EQ(got, want) << got.dump(2);
  for (const char* p : {"tiny", "small", "llama-3.2-1b"}) {
    const LlamaConfig c = llama_config_preset(p);
    expect_same(llama_config_from_hf_json(llama_config_to_hf_json(c), p), c);
  }
}

TEST(LlamaConfig, Presets) {
  const LlamaConfig c = llama_config_preset("llama-3.2-1b");
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.hidden_size, 2048);
  EXPECT_EQ(c.intermediate_size, 8192);
  EXPECT_EQ(c.n_layers, 16);
  EXPECT_EQ(c.n_heads, 32);
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_id, 128001);
  EXPECT_TRUE(c.tie_word_embeddings);
  const LlamaConfig t = llama_config_preset("tiny");
  EXPECT_EQ(t.hidden_size, 256);
  EXPECT_EQ(t.n_layers, 4);
  EXPECT_EQ(t.kv_dim(), 128);
  EXPECT_EQ(t.intermediate_size, 768);
  EXPECT_EQ(t.vocab_size, 2048);
  EXPECT_EQ(t.max_position_embeddings, 1024);
  const LlamaConfig s = llama_config_preset("small");
  EXPECT_EQ(s.hidden_size, 512);
  EXPECT_EQ(s.n_layers, 8);
  EXPECT_EQ(s.n_heads, 8);
  EXPECT_EQ(s.n_kv_heads, 4);
  EXPECT_EQ(s.intermediate_size, 1536);
  EXPECT_EQ(s.vocab_size, 4096);
  EXPECT_THROW(llama_config_preset("huge"), Error);
}

std::string error_of(const json& j) {
  try {
    llama_config_from_hf_json(j, "x/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LlamaConfig, HfJsonErrorsNameFileAndKey) {
  const json base = llama_config_to_hf_json(llama_config_preset("tiny"));
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"}) {
    json j = base;
    j.erase(key);
    EXPECT_EQ(error_of(j), fmt::format("x/config.json: config is missing required key \"{}\"", key));
  }
  json j = base;
  j["rope_scaling"].erase("factor");
  EXPECT_NE(error_of(j).find("\"rope_scaling.factor\""), std::string::npos);
  j = base;
  j["hidden_size"] = "256";
  EXPECT_NE(error_of(j).find("config key \"hidden_size\" is \"256\", expected an integer"), std::string::npos);
  j = base;
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("num_attention_heads 4 is not a multiple of num_key_value_heads 3"), std::string::npos);
  j = base;
  j["rope_scaling"]["rope_type"] = "yarn";
  EXPECT_NE(error_of(j).find("rope_scaling type \"yarn\" is not supported"), std::string::npos);
  j = base;
  j["model_type"] = "mistral";
  EXPECT_NE(error_of(j).find("model_type \"mistral\""), std::string::npos);

  // A file that is not JSON: error with the file and the byte.
  const auto path = test::temp_dir() / "config.json";
  std::ofstream(path) << "{\"vocab_size\": 12,";
  try {
    llama_config_from_hf_file(path.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": not valid JSON"), std::string::npos) << e.what();
  }
}

TEST(LlamaConfig, HfJsonVariants) {
  json j = llama_config_to_hf_json(llama_config_preset("tiny"));
  // transformers 5 spelling: rope_parameters holds theta and the scaling.
  json rp = j["rope_scaling"];
  rp["rope_theta"] = 250000.0;
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = rp;
  j["eos_token_id"] = json::array({2047, 2040});
  j.erase("head_dim");  // defaults to hidden / heads = 64
  const LlamaConfig c = llama_config_from_hf_json(j, "v5");
  EXPECT_EQ(c.rope_theta, 250000.0f);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.eos_token_id, 2047);
  EXPECT_EQ(c.head_dim, 64);
  // No scaling at all.
  json n = llama_config_to_hf_json(llama_config_preset("tiny"));
  n["rope_scaling"] = nullptr;
  EXPECT_EQ(llama_config_from_hf_json(n, "n").rope_scaling.type, "none");
}

TEST(LlamaConfig, GgufMissingKeyNamesFileAndKey) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::of("llama"));
  w.set("llama.embedding_length", GgufValue::of<uint32_t>(256));
  const auto path = (test::temp_dir() / "partial.gguf").string();
  w.write(path);
  try {
    llama_config_from_gguf(GgufFile::open(path));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": GGUF key 'llama.feed_forward_length' is missing");
  }
}

}  // namespace
}  // namespace si
