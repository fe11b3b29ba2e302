// peft adapter files (layout, round trip) and merge: merged logits equal base + adapter logits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/mmap.h"
#include "formats/safetensors.h"
#include "test_paths.h"
#include "train/hf_io.h"
#include "train/merge.h"
#include "train_test_util.h"

namespace si {
namespace {

namespace fs = std::filesystem;

LlamaConfig cfg() {
  LlamaConfig c = test::tiny_train_config();
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.bos_token_id = 38;
  c.eos_token_id = 39;
  return c;
}

void randomize_b(train::TrainModel<float>& m) {
  train::Rng r(11);
  for (auto& e : m.adapters().entries)
    if (e.name.find("lora_B") != std::string::npos)
      for (int64_t i = 0; i < e.numel; i++) m.adapters().data[size_t(e.offset + i)] = float(r.normal() * 0.1);
}

// Base model saved as an HF directory (fp32), and a trained-looking adapter run beside it.
struct RunFixture {
  fs::path dir;
  train::ModelOptions o;
  std::unique_ptr<train::TrainModel<float>> lora;
};

RunFixture make(train::Method method) {
  RunFixture s;
  s.dir = test::temp_dir();
  s.o.method = method;
  s.o.lora.rank = 4;
  s.o.lora.alpha = 8;
  train::ModelOptions full;
  train::TrainModel<float> base(cfg(), full);
  base.init_random(3, 0.2f);
  std::vector<train::NamedTensor> ts;
  for (size_t i = 0; i < base.base().entries.size(); i++) {
    const auto& e = base.base().entries[i];
    ts.push_back({e.name, e.shape, std::vector<float>(base.base().ptr(int(i)), base.base().ptr(int(i)) + e.numel)});
  }
  train::save_hf_model(cfg(), ts, (s.dir / "base").string(), DType::F32);
  s.lora = std::make_unique<train::TrainModel<float>>(cfg(), s.o);
  train::load_base_weights(*s.lora, (s.dir / "base").string());
  s.lora->init_adapters(4);
  randomize_b(*s.lora);
  if (method == train::Method::qlora) s.lora->quantize_base();
  train::save_run_output(*s.lora, (s.dir / "run").string(), (s.dir / "base").string());
  return s;
}

train::MergeOptions opts(const RunFixture& s, const std::string& out, DType dt, train::MergeOnto onto = train::MergeOnto::automatic) {
  train::MergeOptions o;
  o.base = (s.dir / "base").string();
  o.adapter = (s.dir / "run").string();
  o.out = out;
  o.dtype = dt;
  o.onto = onto;
  return o;
}

std::vector<float> logits_of(train::TrainModel<float>& m, const train::Batch& b) {
  m.forward(b);
  return {m.logits(), m.logits() + int64_t(b.B) * b.T * m.config().vocab_size};
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); i++) num = std::max(num, double(std::fabs(a[i] - b[i]))), den = std::max(den, double(std::fabs(b[i])));
  return num / den;
}

TEST(Peft, AdapterLayoutAndRoundTrip) {
  RunFixture s = make(train::Method::lora);
  const auto j = nlohmann::json::parse(read_file((s.dir / "run" / "adapter_config.json").string()));
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["r"], 4);
  EXPECT_EQ(j["lora_alpha"], 8.0);
  EXPECT_EQ(j["target_modules"].size(), 7u);
  const SafetensorsFile st = SafetensorsFile::open((s.dir / "run" / "adapter_model.safetensors").string());
  const auto& a = st.get("base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight");
  EXPECT_EQ(a.shape, (Shape{4, 16}));
  EXPECT_EQ(st.get("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight").shape, (Shape{16, 4}));
  EXPECT_EQ(st.tensors().size(), size_t(2 * 7 * 2));
  EXPECT_EQ(train::run_method((s.dir / "run").string()), "lora");

  const train::PeftAdapter ad = train::load_peft_adapter((s.dir / "run").string());
  train::TrainModel<float> m(cfg(), s.o);
  train::apply_peft_adapter(m, ad, "run");
  EXPECT_TRUE(m.adapters().data == s.lora->adapters().data);
}

TEST(Peft, BadAdapterGivesClearError) {
  const fs::path d = test::temp_dir();
  write_file_atomic((d / "adapter_config.json").string(), R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_dora": true, "target_modules": ["q_proj"]})");
  try {
    train::load_peft_adapter(d.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DoRA"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("adapter_config.json"), std::string::npos) << e.what();
  }
}

TEST(Merge, MergedLogitsEqualBasePlusAdapter) {
  RunFixture s = make(train::Method::lora);
  const train::Batch b = test::make_batch(2, 9, cfg().vocab_size, 3, 12);
  const auto want = logits_of(*s.lora, b);
  for (DType dt : {DType::F32, DType::BF16}) {
    const std::string out = (s.dir / fmt::format("merged-{}", dtype_name(dt))).string();
    const train::MergeReport r = train::merge_adapter(opts(s, out, dt));
    EXPECT_FALSE(r.onto_nf4);
    EXPECT_EQ(r.merged_tensors, 14);
    train::ModelOptions full;
    train::TrainModel<float> merged(cfg(), full);
    train::load_base_weights(merged, out);
    const double err = max_rel(logits_of(merged, b), want);
    std::printf("merge %s: max relative logit difference %.3g\n", std::string(dtype_name(dt)).c_str(), err);
    EXPECT_LT(err, dt == DType::F32 ? 1e-5 : 3e-2);
  }
  // The output must not be overwritten.
  EXPECT_THROW(train::merge_adapter(opts(s, (s.dir / "merged-F32").string(), DType::BF16)), Error);
}

TEST(Merge, QloraMergesOntoNf4BaseByDefault) {
  RunFixture s = make(train::Method::qlora);
  const train::Batch b = test::make_batch(2, 9, cfg().vocab_size, 3, 13);
  const auto want = logits_of(*s.lora, b);
  double err[2];
  for (int orig = 0; orig < 2; orig++) {
    const std::string out = (s.dir / (orig ? "merged-orig" : "merged-nf4")).string();
    const train::MergeReport r =
        train::merge_adapter(opts(s, out, DType::F32, orig ? train::MergeOnto::original : train::MergeOnto::automatic));
    EXPECT_EQ(r.onto_nf4, orig == 0);
    if (!orig) {
      std::printf("qlora merge: NF4 base relative RMS error %.4f\n", r.nf4_rel_rms);
      EXPECT_GT(r.nf4_rel_rms, 0.05);
    }
    train::ModelOptions full;
    train::TrainModel<float> merged(cfg(), full);
    train::load_base_weights(merged, out);
    err[orig] = max_rel(logits_of(merged, b), want);
  }
  std::printf("qlora merge: max relative logit difference onto nf4 %.3g, onto original %.3g\n", err[0], err[1]);
  EXPECT_LT(err[0], 1e-5);
  EXPECT_GT(err[1], 10 * err[0]);
}

}  // namespace
}  // namespace si
