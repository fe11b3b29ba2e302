// model/random_model.h write_random_hf: a Hugging Face directory that our loader reads back as the
// config it was made from, with weights of the promised distribution, the same bytes for the same
// seed, and nothing left behind when the target is taken.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/half.h"
#include "formats/safetensors.h"
#include "model/llama_model.h"
#include "model/random_model.h"
#include "test_paths.h"

namespace si {
namespace {

namespace fs = std::filesystem;

std::string bytes_of(const fs::path& p) {
  std::string s(fs::file_size(p), '\0');
  FILE* f = std::fopen(p.c_str(), "rb");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(std::fread(s.data(), 1, s.size(), f), s.size());
  std::fclose(f);
  return s;
}

TEST(RandomModel, HfDirectoryLoadsAsItsConfig) {
  LlamaConfig cfg = llama_config_preset("tiny");
  cfg.n_layers = 2;
  const fs::path dir = test::temp_dir();
  write_random_hf(cfg, DType::BF16, 3, (dir / "a").string());
  write_random_hf(cfg, DType::BF16, 3, (dir / "b").string());
  write_random_hf(cfg, DType::BF16, 4, (dir / "c").string());
  const LlamaConfig back = llama_config_from_hf_file((dir / "a" / "config.json").string());
  EXPECT_EQ(back.n_layers, 2);
  EXPECT_EQ(back.hidden_size, cfg.hidden_size);
  EXPECT_EQ(back.intermediate_size, cfg.intermediate_size);
  EXPECT_EQ(back.n_kv_heads, cfg.n_kv_heads);
  EXPECT_EQ(back.vocab_size, cfg.vocab_size);
  EXPECT_NO_THROW(LlamaModel::load((dir / "a").string()));
  EXPECT_EQ(bytes_of(dir / "a" / "model.safetensors"), bytes_of(dir / "b" / "model.safetensors"));
  EXPECT_NE(bytes_of(dir / "a" / "model.safetensors"), bytes_of(dir / "c" / "model.safetensors"));

  const SafetensorsModel st = SafetensorsModel::open((dir / "a").string());
  auto stats = [&](const std::string& name, double& mean, double& sd) {
    const SafetensorsTensor& t = st.get(name);
    EXPECT_EQ(t.dtype, DType::BF16) << name;
    const int64_t n = t.view.numel();
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = bf16_to_f32(t.view.as<const uint16_t>()[i]);
      s += v, s2 += v * v;
    }
    mean = s / double(n), sd = std::sqrt(s2 / double(n) - mean * mean);
  };
  double mean = 0, sd = 0;
  stats("model.layers.1.mlp.down_proj.weight", mean, sd);
  EXPECT_NEAR(sd, 0.02, 0.001);
  EXPECT_NEAR(mean, 0.0, 0.001);
  stats("model.layers.0.input_layernorm.weight", mean, sd);
  EXPECT_NEAR(mean, 1.0, 0.01);
  EXPECT_LT(sd, 0.1);

  // A taken target: one error, nothing written, no temporary directory left.
  EXPECT_THROW(write_random_hf(cfg, DType::BF16, 3, (dir / "a").string()), Error);
  EXPECT_THROW(write_random_hf(cfg, DType::Q8_0, 3, (dir / "d").string()), Error);
  EXPECT_THROW(write_random_hf(cfg, DType::F16, 3, (dir / "e").string(), (dir / "no-such.json").string()), Error);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename().string()[0] != '.';
  EXPECT_EQ(entries, 3u);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
}

}  // namespace
}  // namespace si
