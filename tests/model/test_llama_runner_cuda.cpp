// The CUDA runner against the CPU runner on a random model of the tiny preset (FP16 GGUF, so both
// see the same fp16 weights; GGUF's interleaved RoPE). The CPU keeps activations and the KV cache in
// fp32, the GPU rounds matmul inputs/outputs and the cache to fp16: tolerance on logits, relative
// to the reference: ||gpu - cpu|| / ||cpu|| < 2e-2, and the argmax must agree wherever the CPU's
// top-1 leads its runner-up by more than twice the largest difference seen. Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "logits_agreement.h"
#include "model/cuda/llama_runner_cuda.h"
#include "model/llama_runner.h"
#include "model/random_model.h"
#include "ops/cuda/device.h"
#include "ops/cuda_test_util.h"
#include "test_paths.h"

namespace si {
namespace {

using test::Agreement;
using test::compare;
using test::expect_close;

class CudaRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SI_REQUIRE_CUDA();
    const std::string path = (test::temp_dir() / "tiny-f16.gguf").string();
    ThreadPool pool(2);
    write_random_gguf(llama_config_preset("tiny"), "F16", 5, path, &pool);
    model_ = std::make_unique<LlamaModel>(LlamaModel::load(path));
  }
  std::unique_ptr<LlamaModel> model_;
};

TEST_F(CudaRunnerTest, PrefillAndGraphDecodeMatchTheCpuRunner) {
  const int V = model_->config().vocab_size;
  LlamaRunner cpu(*model_, {.n_threads = 2, .n_slots = 1, .capacity = 64});
  CudaLlamaRunner gpu(*model_, {.n_slots = 1, .capacity = 64, .max_tokens = 64});
  std::vector<int32_t> ids(24);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919 + 13) % size_t(V));
  expect_close(compare(gpu.eval(0, ids), cpu.eval(0, ids), V), "prefill of 24 tokens");
  // Decode steps: the first runs eagerly, the second is captured, later ones replay the graph.
  for (int step = 0; step < 4; ++step) {
    const int32_t tok = int32_t((step * 31 + 5) % V);
    const std::vector<int32_t> one = {tok};
    expect_close(compare(gpu.eval(0, one), cpu.eval(0, one), V), "decode step");
  }
  EXPECT_EQ(gpu.length(0), 28);
}

TEST_F(CudaRunnerTest, BatchedSharedAndCopiedPrefixesMatchTheCpuRunner) {
  const int V = model_->config().vocab_size, C = model_->config().hidden_size;
  const std::vector<int32_t> prefix = {1, 50, 900, 33, 7, 1200, 64, 2000, 5, 6, 77, 88};
  const std::vector<int32_t> r1 = {300, 301, 302, 303, 304}, r2 = {17, 18, 19};
  const std::vector<int32_t> rows = {0, 5, 99, 1023, 2047, 300};
  LlamaRunner cpu(*model_, {.n_threads = 2, .n_slots = 4, .capacity = 32});
  CudaLlamaRunner gpu(*model_, {.n_slots = 4, .capacity = 32, .max_tokens = 32});
  std::vector<float> hc(size_t(3 * C)), hg(size_t(3 * C));
  const LlamaRunner::Append cp{0, prefix.data(), int(prefix.size())};
  const CudaLlamaRunner::Append gp{0, prefix.data(), int(prefix.size())};
  cpu.append({&cp, 1}, nullptr);
  gpu.append({&gp, 1}, nullptr);
  for (int s : {1, 2}) {
    cpu.cache().share_prefix(0, s, int(prefix.size()));
    gpu.share_prefix(0, s, int(prefix.size()));
  }
  cpu.cache().copy_slot(0, 3, int(prefix.size()));
  gpu.copy_slot(1, 3, int(prefix.size()));  // a copy through a shared slot reads the prefix slot
  const LlamaRunner::Append cb[] = {{1, r1.data(), 5}, {2, r2.data(), 3}, {3, r2.data(), 3}};
  const CudaLlamaRunner::Append gb[] = {{1, r1.data(), 5}, {2, r2.data(), 3}, {3, r2.data(), 3}};
  cpu.append(cb, hc.data());
  gpu.append(gb, hg.data());
  std::vector<float> lc(3 * rows.size()), lg(3 * rows.size()), fc(size_t(3 * V)), fg(size_t(3 * V));
  cpu.logits(hc.data(), 3, rows, lc.data());
  gpu.logits(hg.data(), 3, rows, lg.data());
  cpu.logits(hc.data(), 3, {}, fc.data());
  gpu.logits(hg.data(), 3, {}, fg.data());
  expect_close(compare(fg, fc, V), "batched shared/copied prefixes, all rows");
  const Agreement sel = compare(lg, lc, int64_t(rows.size()));
  EXPECT_LT(sel.rel, 2e-2);
  // Slots 2 and 3 hold the same sequence, one shared, one copied: identical on the GPU.
  for (int i = 0; i < C; ++i) ASSERT_EQ(hg[size_t(C + i)], hg[size_t(2 * C + i)]) << i;
  EXPECT_EQ(gpu.length(1), 17);
  EXPECT_EQ(gpu.length(3), 15);
}

// Greedy steps with the head and argmax on the GPU (captured in the step's graph from the second
// step on) pick exactly the argmax of the logits the runner returns to the host for the same steps,
// and agree with the CPU runner wherever its top-1 is decided.
TEST_F(CudaRunnerTest, GreedyStepsPickTheArgmaxOfTheLogits) {
  const int V = model_->config().vocab_size, C = model_->config().hidden_size;
  LlamaRunner cpu(*model_, {.n_threads = 2, .n_slots = 2, .capacity = 64});
  CudaLlamaRunner greedy(*model_, {.n_slots = 2, .capacity = 64, .max_tokens = 64});
  CudaLlamaRunner plain(*model_, {.n_slots = 2, .capacity = 64, .max_tokens = 64});
  std::vector<int32_t> p0(20), p1(9);
  for (size_t i = 0; i < p0.size(); ++i) p0[i] = int32_t((i * 7919 + 3) % size_t(V));
  for (size_t i = 0; i < p1.size(); ++i) p1[i] = int32_t((i * 104729 + 11) % size_t(V));
  std::vector<int32_t> next(2);
  std::vector<float> hg(size_t(2 * C)), hc(size_t(2 * C)), lg(size_t(2 * V)), lc(size_t(2 * V));
  for (int step = 0; step < 5; ++step) {
    const std::vector<CudaLlamaRunner::Append> gb = {{0, p0.data(), int(p0.size())}, {1, p1.data(), int(p1.size())}};
    const std::vector<LlamaRunner::Append> cb = {{0, p0.data(), int(p0.size())}, {1, p1.data(), int(p1.size())}};
    greedy.append_greedy(gb, next.data());
    plain.append(gb, hg.data());
    cpu.append(cb, hc.data());
    plain.logits(hg.data(), 2, {}, lg.data());
    cpu.logits(hc.data(), 2, {}, lc.data());
    const Agreement a = compare(lg, lc, V);
    expect_close(a, "greedy step");
    for (int b = 0; b < 2; ++b) {
      const float* l = lg.data() + int64_t(b) * V;
      EXPECT_EQ(next[size_t(b)], int32_t(std::max_element(l, l + V) - l)) << "step " << step << " row " << b;
    }
    p0 = {next[0]};  // the GPU's picks go to all three runners
    p1 = {next[1]};
  }
  EXPECT_EQ(greedy.length(0), 24);
  EXPECT_EQ(greedy.length(1), 13);
}

// generate_greedy (the steps chained on the device) gives the tokens and slot lengths of one
// append_greedy call per token, for one sequence (the one-row GEMV path) and for two of different
// prompt lengths; the first call runs eagerly and captures, the second replays the graphs.
TEST_F(CudaRunnerTest, GenerateIsOneGreedyStepPerToken) {
  const int V = model_->config().vocab_size, n_new = 6;
  CudaLlamaRunner gen(*model_, {.n_slots = 2, .capacity = 64, .max_tokens = 64});
  CudaLlamaRunner step(*model_, {.n_slots = 2, .capacity = 64, .max_tokens = 64});
  std::vector<int32_t> p0(20), p1(9);
  for (size_t i = 0; i < p0.size(); ++i) p0[i] = int32_t((i * 7919 + 3) % size_t(V));
  for (size_t i = 0; i < p1.size(); ++i) p1[i] = int32_t((i * 104729 + 11) % size_t(V));
  for (const int n_seq : {1, 2, 2}) {
    std::vector<CudaLlamaRunner::Append> batch = {{0, p0.data(), int(p0.size())}, {1, p1.data(), int(p1.size())}};
    batch.resize(size_t(n_seq));
    for (int b = 0; b < n_seq; ++b) {
      gen.clear(b);
      step.clear(b);
    }
    std::vector<int32_t> out(static_cast<size_t>(n_seq * n_new)), next(static_cast<size_t>(n_seq)),
        want(static_cast<size_t>(n_seq * n_new));
    gen.generate_greedy(batch, n_new, out.data());
    std::vector<CudaLlamaRunner::Append> sb = batch;
    for (int i = 0; i < n_new; ++i) {
      step.append_greedy(sb, next.data());
      for (int b = 0; b < n_seq; ++b) {
        want[size_t(b * n_new + i)] = next[size_t(b)];
        sb[size_t(b)] = {b, &next[size_t(b)], 1};
      }
    }
    EXPECT_EQ(out, want) << n_seq << " sequences";
    for (int b = 0; b < n_seq; ++b) EXPECT_EQ(gen.length(b), step.length(b)) << "slot " << b;
  }
  EXPECT_EQ(gen.length(0), 20 + n_new - 1);
  EXPECT_EQ(gen.length(1), 9 + n_new - 1);
}

TEST_F(CudaRunnerTest, GenerateRejectsBadRequestsAndKeepsTheSlots) {
  CudaLlamaRunner gpu(*model_, {.n_slots = 2, .capacity = 16, .max_tokens = 16});
  std::vector<int32_t> p(10, 7), out(64);
  const std::vector<CudaLlamaRunner::Append> one = {{0, p.data(), 10}};
  EXPECT_THROW(gpu.generate_greedy(one, 0, out.data()), Error);
  EXPECT_THROW(gpu.generate_greedy(one, 8, out.data()), Error);  // 10 + 7 positions > 16
  const std::vector<CudaLlamaRunner::Append> twice = {{0, p.data(), 2}, {0, p.data(), 2}};
  EXPECT_THROW(gpu.generate_greedy(twice, 2, out.data()), Error);
  EXPECT_EQ(gpu.length(0), 0);
  gpu.generate_greedy(one, 7, out.data());  // exactly fills the cache
  EXPECT_EQ(gpu.length(0), 16);
}

// fp8_min_tokens: passes that large run the Linears' e4m3 copies and stay close to the FP16 runner
// and the CPU (e4m3 keeps 3 mantissa bits: each matmul input rounds by up to 2^-4 relative, so the
// bound is 1e-1, not 2e-2; every decided top-1 must still agree); smaller passes run the FP16
// path, bitwise what the FP16 runner gives. The e4m3 copies add a byte per weight plus a scale per
// row to the Linears' VRAM.
TEST_F(CudaRunnerTest, Fp8PassesTrackFp16AndSmallerPassesAreFp16) {
  const int V = model_->config().vocab_size;
  LlamaRunner cpu(*model_, {.n_threads = 2, .n_slots = 1, .capacity = 64});
  CudaLlamaRunner f16(*model_, {.n_slots = 1, .capacity = 64, .max_tokens = 64});
  CudaLlamaRunner f8(*model_, {.n_slots = 1, .capacity = 64, .max_tokens = 64, .fp8_min_tokens = 8});
  std::vector<int32_t> ids(24);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919 + 13) % size_t(V));
  const std::vector<float> l8 = f8.eval(0, ids), l16 = f16.eval(0, ids);
  const Agreement a = compare(l8, l16, V);
  expect_close(a, "fp8 prefill vs fp16", 1e-1);
  EXPECT_GT(a.rel, 1e-3) << "the FP8 path did not run";
  expect_close(compare(l8, cpu.eval(0, ids), V), "fp8 prefill vs cpu", 1e-1);
  const std::vector<int32_t> few(ids.begin(), ids.begin() + 7);
  f8.clear(0);
  f16.clear(0);
  EXPECT_EQ(f8.eval(0, few), f16.eval(0, few)) << "a pass under fp8_min_tokens must be the FP16 one";
  const auto& c = model_->config();
  const size_t params = size_t(c.n_layers) * size_t(c.hidden_size) *
                        size_t(c.q_dim() + 2 * c.kv_dim() + c.q_dim() + 3 * c.intermediate_size);
  EXPECT_GE(f8.linear_weight_bytes(), f16.linear_weight_bytes() + params);
  EXPECT_LE(f8.linear_weight_bytes(), f16.linear_weight_bytes() + params + params / 8);
}

TEST_F(CudaRunnerTest, RejectsTokensOutsideTheVocabularyAndCache) {
  CudaLlamaRunner gpu(*model_, {.n_slots = 1, .capacity = 4, .max_tokens = 8});
  const std::vector<int32_t> bad = {model_->config().vocab_size};
  EXPECT_THROW(gpu.eval(0, bad), Error);
  const std::vector<int32_t> many = {1, 2, 3, 4, 5};
  EXPECT_THROW(gpu.eval(0, many), Error);
}

}  // namespace
}  // namespace si
