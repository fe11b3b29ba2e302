// quant/gptq_model.h + quant/gptq_calib.h on the tiny HF Llama fixture (../shared/fixtures/gguf/hf):
// the calibration forward equals the CPU engine, and a whole-model GPTQ run writes a directory the
// engine loads, with smaller layer errors and logits closer to the original than round-to-nearest.
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/task_spec.h"
#include "formats/safetensors.h"
#include "model/llama_model.h"
#include "model/llama_runner.h"
#include "ops/rms_norm.h"
#include "ops/swiglu.h"
#include "quant/gptq_calib.h"
#include "quant/gptq_model.h"
#include "gptq_test_data.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace si {
namespace {
namespace fs = std::filesystem;

std::string fixture_dir() { return test::fixture("gguf/hf"); }

using test::write_calib;

const TensorView& t(const SafetensorsModel& st, const std::string& name) { return st.get(name).view; }

TEST(GptqModel, CalibrationForwardMatchesTheEngine) {
  SI_REQUIRE_FIXTURE(fixture_dir());
  const fs::path dir = test::temp_dir();
  const LlamaModel m = LlamaModel::load(fixture_dir());
  const LlamaConfig& c = m.config();
  const Tokenizer tok = Tokenizer::load(fixture_dir());
  const CalibSet cs = load_calibration(write_calib(dir, 3), tok, load_task_spec(test::source_path("data/tasks/cart.json")), 3, 512);
  ASSERT_EQ(cs.samples(), 3);
  const SafetensorsModel st = SafetensorsModel::open(fixture_dir());
  ASSERT_EQ(st.get("model.norm.weight").dtype, DType::F32);
  ThreadPool pool(2);
  CalibForward f(c, cs, pool);
  const int64_t N = cs.n_tokens(), C = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), F = c.intermediate_size;
  std::vector<float> x(size_t(N * C)), xn(x.size()), tmp(x.size()), q(size_t(N * Q)), att(q.size()), k(size_t(N * KV)),
      v(k.size()), g(size_t(N * F)), u(g.size());
  TensorView xv{x.data(), DType::F32, {N, C}}, xnv{xn.data(), DType::F32, {N, C}}, tv{tmp.data(), DType::F32, {N, C}};
  f.embed(t(st, "model.embed_tokens.weight"), x.data());
  for (int l = 0; l < c.n_layers; ++l) {
    auto w = [&](const std::string& n) { return t(st, fmt::format("model.layers.{}.{}.weight", l, n)).as<const float>(); };
    ops::rms_norm(xv, t(st, fmt::format("model.layers.{}.input_layernorm.weight", l)), c.rms_norm_eps, xnv, pool);
    linear(pool, xn.data(), w("self_attn.q_proj"), N, C, Q, q.data());
    linear(pool, xn.data(), w("self_attn.k_proj"), N, C, KV, k.data());
    linear(pool, xn.data(), w("self_attn.v_proj"), N, C, KV, v.data());
    f.attention(q.data(), k.data(), v.data(), att.data());
    linear(pool, att.data(), w("self_attn.o_proj"), N, Q, C, tmp.data());
    ops::add(xv, tv, pool);
    ops::rms_norm(xv, t(st, fmt::format("model.layers.{}.post_attention_layernorm.weight", l)), c.rms_norm_eps, xnv, pool);
    linear(pool, xn.data(), w("mlp.gate_proj"), N, C, F, g.data());
    linear(pool, xn.data(), w("mlp.up_proj"), N, C, F, u.data());
    ops::swiglu(TensorView{g.data(), DType::F32, {N, F}}, TensorView{u.data(), DType::F32, {N, F}},
                TensorView{g.data(), DType::F32, {N, F}}, pool);
    linear(pool, g.data(), w("mlp.down_proj"), N, F, C, tmp.data());
    ops::add(xv, tv, pool);
  }
  ops::rms_norm(xv, t(st, "model.norm.weight"), c.rms_norm_eps, xnv, pool);
  // Each sample's final hidden states against the engine's, sample by sample in its own slot.
  LlamaRunner r(m, {.n_threads = 2, .n_slots = 1, .capacity = 1024});
  for (int64_t s = 0; s < cs.samples(); ++s) {
    const int64_t b = cs.start[size_t(s)], T = cs.len[size_t(s)];
    r.cache().clear(0);
    std::vector<int32_t> slots(static_cast<size_t>(T), 0), rows(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) rows[size_t(i)] = int32_t(i);
    std::vector<float> hidden(size_t(T * C));
    r.forward(std::span(cs.tokens).subspan(size_t(b), size_t(T)), slots, std::span(cs.pos).subspan(size_t(b), size_t(T)),
              rows, hidden.data());
    double max_diff = 0, max_abs = 0;
    for (int64_t i = 0; i < T * C; ++i) {
      max_diff = std::max(max_diff, double(std::fabs(hidden[size_t(i)] - xn[size_t(b * C + i)])));
      max_abs = std::max(max_abs, double(std::fabs(hidden[size_t(i)])));
    }
    EXPECT_LT(max_diff, 1e-4 * max_abs) << "sample " << s;
  }
}

// Mean squared difference of the logits of `a` and `b` over the calibration tokens of one row.
double logit_mse(const LlamaModel& a, const LlamaModel& b, const std::vector<int32_t>& ids) {
  LlamaRunner ra(a, {.n_threads = 2, .n_slots = 1, .capacity = 1024}), rb(b, {.n_threads = 2, .n_slots = 1, .capacity = 1024});
  const std::vector<float> la = ra.eval(0, ids), lb = rb.eval(0, ids);
  double e = 0;
  for (size_t i = 0; i < la.size(); ++i) e += double(la[i] - lb[i]) * double(la[i] - lb[i]);
  return e / double(la.size());
}

TEST(GptqModel, QuantizesTheWholeModelBetterThanRoundToNearest) {
  SI_REQUIRE_FIXTURE(fixture_dir());
  const fs::path dir = test::temp_dir();
  GptqModelOptions o;
  o.model = fixture_dir();
  o.calib = write_calib(dir, 24);
  o.task = test::source_path("data/tasks/cart.json");
  o.samples = 16;
  o.gptq.bits = 4, o.gptq.group_size = 64;
  o.threads = 2, o.quiet = true;
  o.out = (dir / "gptq").string();
  const GptqModelResult g = gptq_quantize_model(o);
  o.rtn = true, o.out = (dir / "rtn").string();
  const GptqModelResult r = gptq_quantize_model(o);
  ASSERT_EQ(g.linears.size(), 14u);
  EXPECT_EQ(g.samples, 16);
  double eg = 0, er = 0;
  for (size_t i = 0; i < g.linears.size(); ++i) {
    EXPECT_TRUE(std::isfinite(g.linears[i].rel_err) && g.linears[i].rel_err > 0) << g.linears[i].name;
    eg += g.linears[i].rel_err, er += r.linears[i].rel_err;
  }
  std::cout << "[ratio] tiny fixture, 4-bit group 64: mean rel err GPTQ " << eg / 14 << ", RTN " << er / 14 << "\n";
  EXPECT_LT(eg, er);

  const LlamaModel base = LlamaModel::load(fixture_dir());
  const LlamaModel mg = LlamaModel::load(o.out.substr(0, o.out.size() - 3) + "gptq");
  const LlamaModel mr = LlamaModel::load(o.out);
  const Tokenizer tok = Tokenizer::load(fixture_dir());
  const CalibSet cs = load_calibration(write_calib(dir, 30), tok, load_task_spec(o.task), 30, 512);
  std::vector<int32_t> ids(cs.tokens.begin() + cs.start[25], cs.tokens.begin() + cs.start[25] + cs.len[25]);  // not calibrated on
  const double dg = logit_mse(base, mg, ids), dr = logit_mse(base, mr, ids);
  std::cout << "[ratio] logits MSE vs fp32 on a held-out row: GPTQ " << dg << ", RTN " << dr << "\n";
  EXPECT_LT(dg, dr);

  // Bad input: a non-empty --out, a calibration file with no rows.
  EXPECT_THROW(gptq_quantize_model(o), Error);
  write_file_atomic((dir / "empty.jsonl").string(), "\n");
  o.calib = (dir / "empty.jsonl").string(), o.out = (dir / "x").string();
  EXPECT_THROW(gptq_quantize_model(o), Error);
  EXPECT_FALSE(fs::exists(dir / "x"));
}

TEST(GptqModel, ParsesTargets) {
  GptqOptions o;
  gptq_parse_target("gptq:8:-1:act:asym", o);
  EXPECT_EQ(o.bits, 8);
  EXPECT_EQ(o.group_size, -1);
  EXPECT_TRUE(o.desc_act);
  EXPECT_FALSE(o.sym);
  for (const char* bad : {"gptq:3:128", "gptq:4", "gptq:4:0", "gptq:4:128:fast", "gguf:Q4_0", "gptq:x:128"})
    EXPECT_THROW(gptq_parse_target(bad, o), Error) << bad;
}

}  // namespace
}  // namespace si
