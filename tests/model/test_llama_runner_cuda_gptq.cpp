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

#include <algorithm>

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

  // The FP16 embedding / LM head (as the CPU's): this test is about the Linears; the int8 head (the
  // default for 4-bit) is Int8HeadMatchesTheFp16Head's.
  CudaLlamaRunner gpu(raw, {.n_slots = 4, .capacity = 128, .max_tokens = 96, .head = CudaRunnerOptions::Head::f16});
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

// The int8 embedding / LM head (per-row scales; the default with 4-bit Linears) against the FP16
// one on the same 4-bit Linears: logits of a 24-token prefill (more rows than the int8 GEMV: the
// chunked dequantize + cuBLAS path) and of decode steps (the GEMV), within rel 3e-2 and the same
// top-1 wherever the FP16 head's is decided (int8 rounding of Gaussian rows is ~0.7% of a weight's
// size at this width; the measured values are printed). Then on the int8 runner alone: the greedy
// step's token (GEMV inside the graph) is the argmax of logits() for the same state, selected rows
// match the full logits, pairs match selected rows bitwise; and the weight bytes saved.
TEST(CudaRunnerGptq, Int8HeadMatchesTheFp16Head) {
  SI_REQUIRE_CUDA();
  const LlamaConfig cfg = llama_config_preset("tiny");
  const GptqFixture f(test::temp_dir(), cfg, GptqFixture::Method::rtn);
  const LlamaModel raw = LlamaModel::load(f.gptq.string(), {.gptq_dequantize = false});
  const int V = cfg.vocab_size, C = cfg.hidden_size;
  CudaLlamaRunner h8(raw, {.n_slots = 4, .capacity = 64, .max_tokens = 32});
  CudaLlamaRunner h16(raw, {.n_slots = 4, .capacity = 64, .max_tokens = 32, .head = CudaRunnerOptions::Head::f16});
  ASSERT_TRUE(h8.head_int8());
  ASSERT_FALSE(h16.head_int8());
  const std::vector<int32_t> p0 = tokens(24, V, 5);
  expect_close(compare(h8.eval(0, p0), h16.eval(0, p0), V), "int8 head vs FP16 head: prefill 24", 3e-2);
  for (int step = 0; step < 4; ++step) {
    const std::vector<int32_t> one = {int32_t((step * 57 + 3) % V)};
    expect_close(compare(h8.eval(0, one), h16.eval(0, one), V), "int8 head vs FP16 head: decode step", 3e-2);
  }
  // Greedy in the graph (slot 1) against append + logits (slot 2), both with the same history.
  const std::vector<int32_t> p1 = tokens(10, V, 6);
  const CudaLlamaRunner::Append pre[] = {{1, p1.data(), 10}, {2, p1.data(), 10}};
  h8.append(pre, nullptr);
  int32_t tok = 11;
  std::vector<float> hid(static_cast<size_t>(C)), lg(static_cast<size_t>(V));
  for (int step = 0; step < 4; ++step) {
    const CudaLlamaRunner::Append a1[] = {{1, &tok, 1}}, a2[] = {{2, &tok, 1}};
    h8.append(a2, hid.data());
    h8.logits(hid.data(), 1, {}, lg.data());
    int32_t next = 0;
    h8.append_greedy(a1, &next);
    EXPECT_EQ(next, std::max_element(lg.begin(), lg.end()) - lg.begin()) << "greedy step " << step;
    tok = next;
  }
  // Selected rows of the decode row's logits (GEMV) and of a prefill's rows (chunked path, fp16
  // dequantized weights: fp16 rounding apart), then pairs.
  std::vector<int32_t> rows;
  for (int v = 0; v < V; v += 7) rows.push_back(v);
  const int64_t R = int64_t(rows.size());
  std::vector<float> sel(static_cast<size_t>(R));
  h8.logits(hid.data(), 1, rows, sel.data());
  std::vector<float> full_sel(static_cast<size_t>(R));
  for (int64_t i = 0; i < R; ++i) full_sel[size_t(i)] = lg[size_t(rows[size_t(i)])];
  EXPECT_LT(test::rel_err(sel, full_sel), 1e-5);
  const std::vector<int32_t> p3 = tokens(12, V, 7);
  std::vector<float> hid12(size_t(12 * C)), lg12(size_t(12 * V)), sel12(size_t(12 * R));
  std::vector<int32_t> slots(12, 3), pos(12), out_rows(12);
  for (int i = 0; i < 12; ++i) pos[size_t(i)] = out_rows[size_t(i)] = i;
  h8.forward(p3, slots, pos, out_rows, hid12.data());
  h8.logits(hid12.data(), 12, {}, lg12.data());
  h8.logits(hid12.data(), 12, rows, sel12.data());
  std::vector<float> full12(size_t(12 * R));
  for (int64_t m = 0; m < 12; ++m)
    for (int64_t i = 0; i < R; ++i) full12[size_t(m * R + i)] = lg12[size_t(m * V + rows[size_t(i)])];
  EXPECT_LT(test::rel_err(sel12, full12), 2e-3);
  std::vector<int32_t> hrows(static_cast<size_t>(R));
  for (int64_t i = 0; i < R; ++i) hrows[size_t(i)] = int32_t(i % 12);
  std::vector<float> pairs(static_cast<size_t>(R));
  h8.logits_pairs(hid12.data(), 12, hrows, rows, pairs.data());
  for (int64_t i = 0; i < R; ++i) EXPECT_EQ(pairs[size_t(i)], sel12[size_t((i % 12) * R + i)]) << i;
  // Bytes: the tied table's 2 bytes per weight become 1 plus a 4-byte scale per row (arena alignment
  // aside).
  const int64_t saved = int64_t(h16.weight_bytes()) - int64_t(h8.weight_bytes());
  EXPECT_NEAR(double(saved), double(int64_t(V) * C - 4 * int64_t(V)), 1024.0);
  std::printf("weights: int8 head %zu bytes, FP16 head %zu bytes\n", h8.weight_bytes(), h16.weight_bytes());
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
