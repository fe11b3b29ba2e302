// quant/gptq_checkpoint.h + LlamaModel::load of a GPTQ directory: what we write reads back (configs,
// tensor names/dtypes/shapes), the model runs with exactly the dequantized weights (logits equal to an
// F16 HF directory holding those weights), and malformed directories give one line naming the tensor.
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "core/mmap.h"
#include "formats/llama_config.h"
#include "formats/safetensors.h"
#include "model/llama_model.h"
#include "model/llama_runner.h"
#include "quant/gptq.h"
#include "quant/gptq_checkpoint.h"
#include "test_paths.h"

namespace si {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

LlamaConfig small_config() {
  LlamaConfig c;
  c.vocab_size = 96, c.hidden_size = 64, c.intermediate_size = 128, c.n_layers = 2;
  c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16, c.max_position_embeddings = 256;
  c.bos_token_id = 1, c.eos_token_id = 2, c.tie_word_embeddings = true;
  return c;
}

struct Tensors {
  std::map<std::string, std::vector<float>> data;
  std::map<std::string, Shape> shape;
  void add(const std::string& name, Shape s, std::mt19937& rng, bool norm) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = norm ? 1.0f + dist(rng) : dist(rng);
    data[name] = std::move(v);
    shape[name] = std::move(s);
  }
};

Tensors random_model(const LlamaConfig& c) {
  std::mt19937 rng(11);
  Tensors t;
  t.add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, rng, false);
  t.add("model.norm.weight", {c.hidden_size}, rng, true);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    t.add(p + "input_layernorm.weight", {c.hidden_size}, rng, true);
    t.add(p + "post_attention_layernorm.weight", {c.hidden_size}, rng, true);
    t.add(p + "self_attn.q_proj.weight", {c.q_dim(), c.hidden_size}, rng, false);
    t.add(p + "self_attn.k_proj.weight", {c.kv_dim(), c.hidden_size}, rng, false);
    t.add(p + "self_attn.v_proj.weight", {c.kv_dim(), c.hidden_size}, rng, false);
    t.add(p + "self_attn.o_proj.weight", {c.hidden_size, c.q_dim()}, rng, false);
    t.add(p + "mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}, rng, false);
    t.add(p + "mlp.up_proj.weight", {c.intermediate_size, c.hidden_size}, rng, false);
    t.add(p + "mlp.down_proj.weight", {c.hidden_size, c.intermediate_size}, rng, false);
  }
  return t;
}

// An HF directory with every tensor of `t` as `dtype` (F32 or F16).
void write_hf(const fs::path& dir, const LlamaConfig& c, const Tensors& t, DType dtype) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << llama_config_to_hf_json(c).dump(2);
  std::vector<std::vector<uint16_t>> halves;
  SafetensorsWriter w;
  for (const auto& [name, v] : t.data) {
    if (dtype == DType::F32) {
      w.add(name, DType::F32, t.shape.at(name), v.data());
    } else {
      halves.emplace_back();
      for (float x : v) halves.back().push_back(f32_to_f16(x));
      w.add(name, DType::F16, t.shape.at(name), halves.back().data());
    }
  }
  w.write((dir / "model.safetensors").string());
}

struct Fixture {
  LlamaConfig cfg = small_config();
  Tensors t = random_model(cfg);
  fs::path base, gptq, dense;
  GptqQuantConfig q;
  std::map<std::string, std::vector<float>> deq;  // RTN weights by "<prefix>.weight"

  explicit Fixture(const fs::path& tmp, bool act = false) : base(tmp / "base"), gptq(tmp / "gptq"), dense(tmp / "dense") {
    q.group_size = 32, q.desc_act = act;
    write_hf(base, cfg, t, DType::F32);
    std::ofstream(base / "tokenizer.json") << "{}";
    std::map<std::string, GptqPacked> linears;
    for (int l = 0; l < cfg.n_layers; ++l)
      for (int p = 0; p < kGptqLinears; ++p) {
        const std::string prefix = gptq_linear_prefix(l, p);
        const std::vector<float>& w = t.data.at(prefix + ".weight");
        const Shape& s = t.shape.at(prefix + ".weight");
        GptqOptions o;
        o.group_size = q.group_size, o.desc_act = act;
        // GPTQ with a Hessian from random rows: with act-order g_idx is a real permutation.
        std::mt19937 rng(uint32_t(l * 10 + p));
        std::normal_distribution<float> d(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(64 * s[1]));
        for (size_t k = 0; k < x.size(); ++k) x[k] = d(rng) * float(1 + (k % size_t(s[1])) % 7);
        GptqHessian h(s[1]);
        h.add(x.data(), 64, 4);
        GptqResult r = gptq_quantize(w.data(), s[0], s[1], h, o);
        linears[prefix] = gptq_pack(r.codes, q.format);
        deq[prefix + ".weight"].assign(r.w.begin(), r.w.end());
      }
    const SafetensorsModel src = SafetensorsModel::open(base.string());
    write_gptq_dir(gptq.string(), base.string(), src, q, linears);
    Tensors d = t;
    for (const auto& [name, v] : deq) d.data[name] = v;
    write_hf(dense, cfg, d, DType::F16);
  }
};

TEST(GptqCheckpoint, WritesTheAutoGptqLayout) {
  Fixture f(test::temp_dir());
  EXPECT_TRUE(fs::exists(f.gptq / "tokenizer.json"));
  const json cfg = json::parse(read_file((f.gptq / "config.json").string()));
  const json& qc = cfg.at("quantization_config");
  EXPECT_EQ(qc.at("quant_method"), "gptq");
  EXPECT_EQ(qc.at("bits"), 4);
  EXPECT_EQ(qc.at("group_size"), 32);
  EXPECT_EQ(qc.at("desc_act"), false);
  EXPECT_EQ(qc.at("sym"), true);
  EXPECT_EQ(qc.at("checkpoint_format"), "gptq");
  EXPECT_EQ(cfg.at("torch_dtype"), "float16");
  EXPECT_EQ(cfg.at("hidden_size"), 64);
  const json qf = json::parse(read_file((f.gptq / "quantize_config.json").string()));
  EXPECT_EQ(qf.at("checkpoint_format"), "gptq");
  EXPECT_EQ(qf.at("quant_method"), "gptq");
  const auto q = gptq_config_of_dir(f.gptq.string());
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->group_size, 32);
  EXPECT_FALSE(gptq_config_of_dir(f.base.string()).has_value());

  const SafetensorsModel st = SafetensorsModel::open(f.gptq.string());
  const std::string p = "model.layers.1.mlp.down_proj";  // in 128, out 64
  EXPECT_EQ(st.find(p + ".weight"), nullptr);
  EXPECT_EQ(st.get(p + ".qweight").dtype, DType::I32);
  EXPECT_EQ(st.get(p + ".qweight").shape, (Shape{16, 64}));
  EXPECT_EQ(st.get(p + ".qzeros").shape, (Shape{4, 8}));
  EXPECT_EQ(st.get(p + ".scales").dtype, DType::F16);
  EXPECT_EQ(st.get(p + ".scales").shape, (Shape{4, 64}));
  EXPECT_EQ(st.get(p + ".g_idx").shape, (Shape{128}));
  EXPECT_EQ(st.get("model.embed_tokens.weight").dtype, DType::F16);
  EXPECT_EQ(st.get("model.norm.weight").dtype, DType::F16);
  // Refuses to overwrite.
  EXPECT_THROW(write_gptq_dir(f.gptq.string(), f.base.string(), SafetensorsModel::open(f.base.string()), f.q, {}), Error);
}

TEST(GptqCheckpoint, ModelRunsOnTheDequantizedWeights) {
  for (bool act : {false, true}) {
    Fixture f(test::temp_dir(), act);
    const LlamaModel g = LlamaModel::load(f.gptq.string());
    const LlamaModel d = LlamaModel::load(f.dense.string());
    const TensorView& wq = g.weights().layers[1].w_down;
    ASSERT_EQ(wq.dtype, DType::F16);
    const std::vector<float>& want = f.deq.at("model.layers.1.mlp.down_proj.weight");
    for (int64_t k = 0; k < wq.numel(); ++k) ASSERT_EQ(wq.as<uint16_t>()[k], f32_to_f16(want[size_t(k)])) << k;
    LlamaRunner rg(g, {.n_threads = 2, .n_slots = 1, .capacity = 32});
    LlamaRunner rd(d, {.n_threads = 2, .n_slots = 1, .capacity = 32});
    const std::vector<int32_t> ids{1, 5, 17, 42, 3, 88};
    EXPECT_EQ(rg.eval(0, ids), rd.eval(0, ids)) << (act ? "act-order" : "");
  }
}

// Rewrites model.safetensors of a copy of the GPTQ dir through `edit`; returns the load error.
std::string load_error(const Fixture& f, const fs::path& dir, const std::function<void(SafetensorsWriter&, const SafetensorsModel&)>& edit,
                       const std::string& config_patch = "") {
  fs::remove_all(dir);
  fs::create_directories(dir);
  json cfg = json::parse(read_file((f.gptq / "config.json").string()));
  if (!config_patch.empty()) cfg["quantization_config"].merge_patch(json::parse(config_patch));
  std::ofstream(dir / "config.json") << cfg.dump();
  const SafetensorsModel src = SafetensorsModel::open(f.gptq.string());
  SafetensorsWriter w;
  edit(w, src);
  w.write((dir / "model.safetensors").string());
  try {
    LlamaModel::load(dir.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GptqCheckpoint, MalformedDirectoriesNameTheTensor) {
  const fs::path tmp = test::temp_dir();
  Fixture f(tmp);
  const std::string victim = "model.layers.1.self_attn.k_proj.qzeros";
  auto copy_except = [&](const std::string& skip) {
    return [skip](SafetensorsWriter& w, const SafetensorsModel& src) {
      for (const SafetensorsTensor* t : src.tensors())
        if (t->name != skip) w.add(*t);
    };
  };
  std::string e = load_error(f, tmp / "missing", copy_except(victim));
  EXPECT_NE(e.find("'" + victim + "' is missing"), std::string::npos) << e;
  EXPECT_NE(e.find("I32 [2, 4]"), std::string::npos) << e;  // what was expected: (groups, out / 8)

  e = load_error(f, tmp / "shape", [&](SafetensorsWriter& w, const SafetensorsModel& src) {
    copy_except(victim)(w, src);
    const SafetensorsTensor& t = src.get(victim);
    w.add(victim, DType::I32, {4, 2}, t.view.data);
  });
  EXPECT_NE(e.find("'" + victim + "' is I32 [4, 2], expected I32 [2, 4]"), std::string::npos) << e;

  std::vector<int32_t> bad_g(64, 0);
  bad_g[9] = 7;
  e = load_error(f, tmp / "g_idx", [&](SafetensorsWriter& w, const SafetensorsModel& src) {
    copy_except("model.layers.0.mlp.up_proj.g_idx")(w, src);
    w.add("model.layers.0.mlp.up_proj.g_idx", DType::I32, {64}, bad_g.data());
  });
  EXPECT_NE(e.find("'model.layers.0.mlp.up_proj.g_idx' entry 9 is 7"), std::string::npos) << e;

  e = load_error(f, tmp / "bits", copy_except(""), R"({"bits": 3})");
  EXPECT_NE(e.find("GPTQ bits 3 is not supported"), std::string::npos) << e;
  e = load_error(f, tmp / "marlin", copy_except(""), R"({"checkpoint_format": "marlin", "format": "marlin"})");
  EXPECT_NE(e.find("marlin"), std::string::npos) << e;
  e = load_error(f, tmp / "awq", copy_except(""), R"({"quant_method": "awq"})");
  EXPECT_NE(e.find("'awq' is not supported"), std::string::npos) << e;
  for (const std::string& msg : {e}) EXPECT_EQ(msg.find('\n'), std::string::npos);  // one line
}

}  // namespace
}  // namespace si
