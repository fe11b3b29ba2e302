// quant/cuda/: GPTQ on the GPU against the CPU reference (quant/gptq.h) — the same layer and the same
// H give the same codes (all or nearly all: the two BLAS libraries sum the lazy updates in
// different orders), scales and g_idx, and ||WX - QX||^2 within 0.5% relative; with H = I and in
// RTN mode exactly round-to-nearest; the device Hessian equals GptqHessian; the CUDA backend's
// forward steps equal the CPU backend's; and a whole-model run with the CUDA backend is as good as
// the CPU backend's on the tiny fixture. Skips without a GPU.
#include <cmath>
#include <filesystem>
#include <iostream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/cuda_test_util.h"
#include "gptq_test_data.h"
#include "data/task_spec.h"
#include "formats/llama_config.h"
#include "formats/safetensors.h"
#include "model/llama_model.h"
#include "model/llama_runner.h"
#include "quant/cuda/gptq_backend_cuda.h"
#include "quant/cuda/gptq_cuda.h"
#include "quant/gptq.h"
#include "quant/gptq_model.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "train/hf_io.h"

namespace si {
namespace {

namespace fs = std::filesystem;
using test::correlated_inputs;
using test::normal;

double fraction_equal(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return double(same) / double(a.size());
}

TEST(GptqCuda, SameLayerSameHessianGivesTheCpuCodes) {
  SI_REQUIRE_CUDA();
  const int64_t out = 192, in = 640, rows = 1500;  // in: five blocks of 128, groups crossing none or some
  const std::vector<float> w = normal(out * in, 11, 0.02f);
  std::vector<float> x = correlated_inputs(rows, in, 12);
  for (int64_t r = 0; r < rows; ++r) x[size_t(r * in + 77)] = 0;  // one dead input
  GptqHessian h(in);
  h.add(x.data(), rows, 16);
  struct Case { int bits, gs; bool act, sym; };
  for (const Case c : {Case{4, 128, false, true}, Case{4, 32, true, false}, Case{8, -1, false, true},
                       Case{4, 64, true, true}, Case{4, 256, false, false}}) {
    SCOPED_TRACE(testing::Message() << c.bits << " bits, group " << c.gs << (c.act ? " act" : "") << (c.sym ? " sym" : " asym"));
    GptqOptions o;
    o.bits = c.bits, o.group_size = c.gs, o.desc_act = c.act, o.sym = c.sym;
    const GptqResult r = gptq_quantize(w.data(), out, in, h, o);
    const GptqResult g = cuda::gptq_quantize_cuda(w.data(), out, in, h, o);
    const double same = fraction_equal(g.codes.q, r.codes.q);
    std::cout << "[cuda vs cpu] " << c.bits << "-bit group " << c.gs << (c.act ? " act" : "") << (c.sym ? "" : " asym")
              << ": codes equal " << same << ", rel err " << g.rel_err() << " vs " << r.rel_err() << "\n";
    EXPECT_GE(same, 0.99);  // one flip can change the rest of its row (error feedback)
    EXPECT_EQ(g.codes.g_idx, r.codes.g_idx);
    EXPECT_EQ(g.dead, 1);
    EXPECT_EQ(g.damp, r.damp);
    // Scales and zero points: found from updated weights, so equal where the codes before them are.
    size_t scales_same = 0;
    for (size_t i = 0; i < r.codes.scale.size(); ++i)
      scales_same += r.codes.scale[i] == g.codes.scale[i] && r.codes.zero[i] == g.codes.zero[i];
    EXPECT_GE(double(scales_same) / double(r.codes.scale.size()), 0.99);
    EXPECT_NEAR(g.ref, r.ref, 1e-5 * r.ref);
    EXPECT_NEAR(g.err, r.err, 5e-3 * r.err);
    EXPECT_NEAR(g.loss, r.loss, 5e-3 * r.loss);
    // The returned weight is the codes' dequantization.
    for (int64_t oo = 0; oo < out; oo += 37)
      for (int64_t i = 0; i < in; ++i) {
        const size_t k = size_t(g.codes.g_idx[size_t(i)] * out + oo);
        const float s = f16_to_f32(g.codes.scale[k]);
        ASSERT_EQ(g.w[size_t(oo * in + i)], s * (float(g.codes.q[size_t(oo * in + i)]) - float(g.codes.zero[k])));
      }
  }
}

TEST(GptqCuda, IdentityHessianAndRtnAreRoundToNearest) {
  SI_REQUIRE_CUDA();
  const int64_t out = 96, in = 384;
  const std::vector<float> w = normal(out * in, 13, 0.02f);
  const std::vector<float> x = normal(500 * in, 14, 1.0f);
  GptqHessian hx(in);
  hx.add(x.data(), 500, 4);
  const GptqHessian hi = GptqHessian::identity(in);
  for (int bits : {4, 8})
    for (int gs : {32, 128, -1})
      for (bool sym : {true, false}) {
        SCOPED_TRACE(testing::Message() << bits << " bits, group " << gs << (sym ? " sym" : " asym"));
        GptqOptions o;
        o.bits = bits, o.group_size = gs, o.sym = sym;
        const GptqResult r = rtn_quantize(w.data(), out, in, o, &hx);
        const GptqResult gi = cuda::gptq_quantize_cuda(w.data(), out, in, hi, o);
        const GptqResult gr = cuda::gptq_quantize_cuda(w.data(), out, in, hx, o, /*rtn=*/true);
        for (const GptqResult* g : {&gi, &gr}) {
          EXPECT_EQ(g->codes.q, r.codes.q);
          EXPECT_EQ(g->codes.zero, r.codes.zero);
          EXPECT_EQ(g->codes.scale, r.codes.scale);
          EXPECT_EQ(g->codes.g_idx, r.codes.g_idx);
          EXPECT_EQ(g->w, r.w);
        }
        EXPECT_NEAR(gr.err, r.err, 1e-5 * r.err);  // measured through the same H on both sides
        EXPECT_NEAR(gr.ref, r.ref, 1e-5 * r.ref);
      }
}

TEST(GptqCuda, DeviceHessianEqualsTheCpuOne) {
  SI_REQUIRE_CUDA();
  const int64_t in = 200, rows = 9000;  // three 4096-row chunks
  const std::vector<float> x = correlated_inputs(rows, in, 15);
  GptqHessian h(in);
  h.add(x.data(), rows, 32);
  cuda::Stream s;
  cuda::DeviceBuffer dx(x.size() * 4, "x");
  dx.upload(x.data(), dx.bytes(), s);
  cuda::GptqHessianCuda hd(64, s.get());
  hd.reset(in);  // larger than before: new buffers
  hd.add(dx.as<float>(), 5000, 20);
  hd.add(dx.as<float>() + 5000 * in, rows - 5000, 12);
  std::vector<double> m(size_t(in * in));
  SI_CUDA_CHECK(cudaMemcpyAsync(m.data(), hd.matrix(), m.size() * 8, cudaMemcpyDeviceToHost, s.get()));
  s.sync();
  const auto ref = h.matrix();
  double d = 0, n = 0;
  for (size_t k = 0; k < m.size(); ++k) d += (m[k] - ref[k]) * (m[k] - ref[k]), n += ref[k] * ref[k];
  EXPECT_LT(std::sqrt(d / n), 1e-6);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < i; ++j) ASSERT_EQ(m[size_t(i * in + j)], m[size_t(j * in + i)]);
}

TEST(GptqCuda, RejectsBadOptions) {
  SI_REQUIRE_CUDA();
  const std::vector<float> w(64, 0.1f);
  const GptqHessian h = GptqHessian::identity(16);
  GptqOptions o;
  o.bits = 3;
  EXPECT_THROW(cuda::gptq_quantize_cuda(w.data(), 4, 16, h, o), Error);
  o.bits = 4, o.block_size = 256;  // larger than the block kernel's shared memory holds
  EXPECT_THROW(cuda::gptq_quantize_cuda(w.data(), 4, 16, h, o), Error);
  EXPECT_THROW(cuda::gptq_quantize_cuda(w.data(), 8, 8, h, GptqOptions{}), Error);
}

// Relative difference ||a - b|| / ||b||.
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) d += double(a[i] - b[i]) * (a[i] - b[i]), n += double(b[i]) * b[i];
  return std::sqrt(d / n);
}

// The CUDA backend's forward pieces against the CPU backend's, step by step over the tiny fixture's
// two layers, with round-to-nearest quantization in between (codes independent of H, so both sides
// run the same weights): activations within fp32 rounding, Hessian-measured errors equal.
TEST(GptqCuda, BackendStepsMatchTheCpuBackend) {
  SI_REQUIRE_CUDA();
  const std::string fixture = test::fixture("gguf/hf");
  SI_REQUIRE_FIXTURE(fixture);
  const LlamaConfig cfg = llama_config_from_hf_file(fixture + "/config.json");
  const SafetensorsModel st = SafetensorsModel::open(fixture);
  const Tokenizer tok = Tokenizer::load(fixture);
  const CalibSet cs = load_calibration(test::write_calib(test::temp_dir(), 24), tok,
                                       load_task_spec(test::source_path("data/tasks/cart.json")), 16, 512);
  std::unique_ptr<GptqBackend> b[2] = {make_gptq_backend_cpu(cfg, cs, 2), make_gptq_backend_cuda(cfg, cs)};
  for (auto& x : b) x->embed(st.get("model.embed_tokens.weight").view);
  auto same = [&](GptqAct a, const std::string& where) {
    const double d = rel_diff(b[1]->activation(a), b[0]->activation(a));
    EXPECT_LT(d, 1e-4) << where;
    return d;
  };
  double worst = same(GptqAct::x, "embedding");
  GptqOptions o;
  o.group_size = 64;
  auto quantize = [&](GptqAct a, std::initializer_list<GptqProj> ps) {
    for (auto& x : b) x->hessian(a);
    for (GptqProj p : ps) {
      const GptqResult rc = b[0]->quantize(p, o, /*rtn=*/true), rg = b[1]->quantize(p, o, /*rtn=*/true);
      EXPECT_EQ(rg.codes.q, rc.codes.q);
      EXPECT_NEAR(rg.rel_err(), rc.rel_err(), 1e-4 * rc.rel_err()) << "Linear " << p;
    }
  };
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string lp = fmt::format("model.layers.{}.", l);
    const char* names[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    for (auto& x : b) {
      GptqLayerWeights w;
      auto f32 = [&](const std::string& n) {
        const std::vector<float> v = train::tensor_to_f32(st.get(n).view, n, fixture);
        return big_vector<float>(v.begin(), v.end());
      };
      for (int p = 0; p < 7; ++p) w.w[p] = f32(lp + names[p] + ".weight");
      w.attn_norm = f32(lp + "input_layernorm.weight");
      w.ffn_norm = f32(lp + "post_attention_layernorm.weight");
      x->load_layer(std::move(w));
    }
    const std::string at = " of layer " + std::to_string(l);
    for (auto& x : b) x->attention_inputs();
    worst = std::max(worst, same(GptqAct::xn, "attn_norm" + at));
    quantize(GptqAct::xn, {kGptqK, kGptqV, kGptqQ});
    for (auto& x : b) x->attention();
    worst = std::max(worst, same(GptqAct::q, "q after RoPE" + at));
    worst = std::max(worst, same(GptqAct::att, "attention" + at));
    quantize(GptqAct::att, {kGptqO});
    for (auto& x : b) x->attention_output();
    worst = std::max(worst, same(GptqAct::x, "residual after attention" + at));
    worst = std::max(worst, same(GptqAct::xn, "ffn_norm" + at));
    quantize(GptqAct::xn, {kGptqUp, kGptqGate});
    for (auto& x : b) x->mlp();
    worst = std::max(worst, same(GptqAct::gate, "SwiGLU" + at));
    quantize(GptqAct::gate, {kGptqDown});
    for (auto& x : b) x->mlp_output();
    worst = std::max(worst, same(GptqAct::x, "layer output" + at));
  }
  std::cout << "[cuda vs cpu] tiny fixture, RTN weights: activations rel diff at most " << worst << "\n";
}

// A whole GPTQ run with the CUDA backend writes a directory that loads and is as good as the CPU
// backend's. Not the same codes: on this small random model GPTQ is sensitive to the last bits of
// H (two OpenBLAS kernel sets on the same CPU already move per-Linear errors by up to 2% and the
// logits by 19%), so the check is on quality: per-Linear errors within 10%, and the logits no
// further from the fp32 model's than the CPU backend's by more than that 19% noise (25%). The
// logits measure moves with the GPU forward's last bits alone: GPTQ cuda 0.2296 and 0.2565 against
// cpu 0.2328 on the H100 before and after RoPE stopped contracting its products into FMAs.
// Round-to-nearest is printed beside them: on this fixture (16 samples, act-order, group 64) it
// lands closer to fp32 in the logits than GPTQ on either backend (RTN 0.2215), so it is no bound.
TEST(GptqCuda, WholeModelIsAsGoodAsTheCpuBackend) {
  SI_REQUIRE_CUDA();
  const std::string fixture = test::fixture("gguf/hf");
  SI_REQUIRE_FIXTURE(fixture);
  const fs::path dir = test::temp_dir();
  GptqModelOptions o;
  o.model = fixture;
  o.calib = test::write_calib(dir, 24);
  o.task = test::source_path("data/tasks/cart.json");
  o.samples = 16;
  o.gptq.bits = 4, o.gptq.group_size = 64, o.gptq.desc_act = true;
  o.threads = 2, o.quiet = true;
  o.out = (dir / "cpu").string();
  const GptqModelResult c = gptq_quantize_model(o);
  o.backend = make_gptq_backend_cuda;
  o.out = (dir / "cuda").string();
  const GptqModelResult g = gptq_quantize_model(o);
  o.rtn = true, o.out = (dir / "cuda-rtn").string();
  gptq_quantize_model(o);
  ASSERT_EQ(g.linears.size(), c.linears.size());
  for (size_t i = 0; i < c.linears.size(); ++i) {
    SCOPED_TRACE(c.linears[i].name + " of layer " + std::to_string(c.linears[i].layer));
    EXPECT_EQ(g.linears[i].name, c.linears[i].name);
    EXPECT_NEAR(g.linears[i].rel_err, c.linears[i].rel_err, 0.1 * c.linears[i].rel_err);
  }
  const std::vector<int32_t> ids = {1, 17, 300, 42, 5, 99, 250, 7};
  auto logits = [&](const std::string& d) {
    const LlamaModel m = LlamaModel::load(d);
    LlamaRunner r(m, {.n_threads = 2, .n_slots = 1, .capacity = 64});
    return r.eval(0, ids);
  };
  const std::vector<float> base = logits(fixture), lc = logits((dir / "cpu").string()),
                           lg = logits((dir / "cuda").string()), lr = logits((dir / "cuda-rtn").string());
  const double ec = rel_diff(lc, base), eg = rel_diff(lg, base), er = rel_diff(lr, base);
  std::cout << "[cuda vs cpu] tiny fixture, 4-bit group 64 act-order: logits rel diff from fp32: GPTQ cuda " << eg
            << ", GPTQ cpu " << ec << ", RTN cuda " << er << "\n";
  EXPECT_LT(eg, 1.25 * ec);
}

}  // namespace
}  // namespace si
