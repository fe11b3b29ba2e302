// The CUDA runner on GPTQ 4-bit checkpoints — Linears kept in 4 bits on the GPU (W4A16 up to 64
// rows, dequantize + cuBLAS above) — against the CPU runner on the same checkpoint dequantized to
// F16 at load. Checkpoints of the tiny preset are written in-test by our GPTQ writer
// (gptq_fixture.h): RTN in natural order (q|k|v and gate|up each one 4-bit launch) and GPTQ with
// act-order (each Linear its own input order: separate parts, permuted activations).
// Tolerance as for the FP16 runner (test_llama_runner_cuda.cpp): ||gpu - cpu|| / ||cpu|| < 2e-2,
// and the same top-1 wherever the CPU's top-1 is decided; max |diff| is printed. The GPU computes
// the group scale on fp32 partial sums where the CPU multiplies fp16-rounded weights, and keeps
// activations and the KV cache in fp16. Skips without a GPU (except the CPU-side checks).
#include <gtest/gtest.h>

#include "core/error.h"
#include "gptq_fixture.h"
#include "logits_agreement.h"
#include "model/cuda/llama_runner_cuda.h"
#include "model/llama_runner.h"
#include "ops/cuda_test_util.h"
#include "test_paths.h"

namespace si {
namespace {

using test::compare;
using test::expect_close;
using test::GptqFixture;

std::vector<int32_t> tokens(int n, int V, int salt) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919 + salt * 104729 + 13) % V);
  return ids;
}

// Prefill of 24 tokens, decode steps (eager, captured, replayed), a prefill of 80 tokens (above
// the W4A16 row limit) and a batched step of three slots, each against the CPU.
void check_against_cpu(GptqFixture::Method method) {
  const LlamaConfig cfg = llama_config_preset("tiny");
  const GptqFixture f(test::temp_dir(), cfg, method);
  const LlamaModel cpu_model = LlamaModel::load(f.gptq.string());
  const LlamaModel raw = LlamaModel::load(f.gptq.string(), {.gptq_dequantize = false});
  ASSERT_TRUE(raw.linears_packed_only());
  const int V = cfg.vocab_size, C = cfg.hidden_size;
  const char* name = method == GptqFixture::Method::rtn ? "rtn" : "gptq act-order";

  CudaLlamaRunner gpu(raw, {.n_slots = 4, .capacity = 128, .max_tokens = 96});
  EXPECT_EQ(gpu.linears_4bit(), 4 * cfg.n_layers);
  LlamaRunner cpu(cpu_model, {.n_threads = 2, .n_slots = 4, .capacity = 128});
  const std::vector<int32_t> p0 = tokens(24, V, 1);
  expect_close(compare(gpu.eval(0, p0), cpu.eval(0, p0), V), (std::string(name) + ": prefill 24").c_str());
  for (int step = 0; step < 4; ++step) {
    const std::vector<int32_t> one = {int32_t((step * 31 + 5) % V)};
    expect_close(compare(gpu.eval(0, one), cpu.eval(0, one), V), (std::string(name) + ": decode step").c_str());
  }
  const std::vector<int32_t> p1 = tokens(80, V, 2);
  expect_close(compare(gpu.eval(1, p1), cpu.eval(1, p1), V), (std::string(name) + ": prefill 80").c_str());
  // Three slots, one token each (M = 3), twice (the second replays a graph).
  const std::vector<int32_t> p2 = tokens(9, V, 3);
  cpu.eval(2, p2);
  gpu.eval(2, p2);
  for (int rep = 0; rep < 2; ++rep) {
    const int32_t t[3] = {int32_t(17 + rep), int32_t(400 + rep), int32_t(1000 + rep)};
    const CudaLlamaRunner::Append gb[] = {{0, &t[0], 1}, {1, &t[1], 1}, {2, &t[2], 1}};
    const LlamaRunner::Append cb[] = {{0, &t[0], 1}, {1, &t[1], 1}, {2, &t[2], 1}};
    std::vector<float> hg(size_t(3 * C)), hc(size_t(3 * C)), lg(size_t(3 * V)), lc(size_t(3 * V));
    gpu.append(gb, hg.data());
    cpu.append(cb, hc.data());
    gpu.logits(hg.data(), 3, {}, lg.data());
    cpu.logits(hc.data(), 3, {}, lc.data());
    expect_close(compare(lg, lc, V), (std::string(name) + ": batched step").c_str());
  }
  // 4-bit weights: at most a third of the FP16 runner's Linear bytes (0.5 byte per weight, scales
  // and zeros 4 bytes per 128 weights, act-order permutations 4 bytes per input).
  CudaLlamaRunner fp16(cpu_model, {.n_slots = 1, .capacity = 16, .max_tokens = 16, .gptq_4bit = false});
  EXPECT_EQ(fp16.linears_4bit(), 0);
  std::printf("%s: Linear weights on the GPU %zu bytes 4-bit, %zu FP16 (%.1f%%); all weights %zu vs %zu\n", name,
              gpu.linear_weight_bytes(), fp16.linear_weight_bytes(),
              100.0 * double(gpu.linear_weight_bytes()) / double(fp16.linear_weight_bytes()), gpu.weight_bytes(),
              fp16.weight_bytes());
  EXPECT_LT(gpu.linear_weight_bytes() * 3, fp16.linear_weight_bytes());
}

TEST(CudaRunnerGptq, RtnCheckpointMatchesTheCpuOnDequantizedWeights) {
  SI_REQUIRE_CUDA();
  check_against_cpu(GptqFixture::Method::rtn);
}

TEST(CudaRunnerGptq, ActOrderCheckpointMatchesTheCpuOnDequantizedWeights) {
  SI_REQUIRE_CUDA();
  check_against_cpu(GptqFixture::Method::gptq_act);
}

// The packed-only model run as FP16 on the GPU (dequantized on the host at upload) gives the
// logits of the F16-dequantized model run as FP16: the same weights bit for bit.
TEST(CudaRunnerGptq, PackedOnlyModelRunsAsFp16WhenAsked) {
  SI_REQUIRE_CUDA();
  const LlamaConfig cfg = llama_config_preset("tiny");
  const GptqFixture f(test::temp_dir(), cfg, GptqFixture::Method::gptq_act);
  const LlamaModel deq = LlamaModel::load(f.gptq.string());
  const LlamaModel raw = LlamaModel::load(f.gptq.string(), {.gptq_dequantize = false});
  CudaLlamaRunner a(deq, {.n_slots = 1, .capacity = 32, .max_tokens = 32, .gptq_4bit = false});
  CudaLlamaRunner b(raw, {.n_slots = 1, .capacity = 32, .max_tokens = 32, .gptq_4bit = false});
  EXPECT_EQ(a.linears_4bit(), 0);
  EXPECT_EQ(b.linears_4bit(), 0);
  const std::vector<int32_t> p = tokens(12, cfg.vocab_size, 4);
  EXPECT_EQ(a.eval(0, p), b.eval(0, p));
}

// CPU side (no GPU needed): the packed-only load keeps no dequantized copy, and the CPU runner
// refuses it with one line saying what to do.
TEST(CudaRunnerGptq, CpuRunnerRefusesAPackedOnlyModel) {
  LlamaConfig cfg = llama_config_preset("tiny");
  cfg.n_layers = 1;
  const GptqFixture f(test::temp_dir(), cfg, GptqFixture::Method::rtn);
  const LlamaModel raw = LlamaModel::load(f.gptq.string(), {.gptq_dequantize = false});
  ASSERT_NE(raw.gptq(), nullptr);
  EXPECT_EQ(raw.gptq()->dense_bytes(), 0u);
  EXPECT_EQ(raw.weights().layers[0].wq.data, nullptr);
  EXPECT_EQ(raw.gptq()->linear(0, 0).layout.out, cfg.q_dim());
  try {
    LlamaRunner r(raw, {.n_threads = 1, .n_slots = 1, .capacity = 8});
    FAIL() << "the CPU runner accepted a model without Linear weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gptq_dequantize"), std::string::npos) << e.what();
  }
  const LlamaModel deq = LlamaModel::load(f.gptq.string());
  EXPECT_FALSE(deq.linears_packed_only());
  EXPECT_GT(deq.gptq()->dense_bytes(), 0u);
}

// CPU side: the fixtures exercise both upload paths — RTN Linears of one site share an input order
// (one fused part), act-order ones each have their own (one part per Linear).
TEST(CudaRunnerGptq, FixturesGiveFusedAndSeparateParts) {
  LlamaConfig cfg = llama_config_preset("tiny");
  cfg.n_layers = 1;
  for (const auto method : {GptqFixture::Method::rtn, GptqFixture::Method::gptq_act}) {
    const GptqFixture f(test::temp_dir(), cfg, method);
    const LlamaModel raw = LlamaModel::load(f.gptq.string(), {.gptq_dequantize = false});
    const GptqFormat fmt = raw.gptq()->quant().format;
    const cuda::GptqView q = to_w4_view(raw.gptq()->linear(0, 0), fmt), k = to_w4_view(raw.gptq()->linear(0, 1), fmt);
    const cuda::GptqView g = to_w4_view(raw.gptq()->linear(0, 4), fmt), u = to_w4_view(raw.gptq()->linear(0, 5), fmt);
    const bool rtn = method == GptqFixture::Method::rtn;
    EXPECT_EQ(cuda::w4_same_order(q, k), rtn);
    EXPECT_EQ(cuda::w4_same_order(g, u), rtn);
    EXPECT_EQ(cuda::w4_pack(q).perm.empty(), rtn);
  }
}

}  // namespace
}  // namespace si
