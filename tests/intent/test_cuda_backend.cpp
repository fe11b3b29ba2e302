// The intent engine on the CUDA backend against the CPU backend, on the tiny random Llama-3 fixture
// (Hugging Face directory, fp32 weights; the GPU keeps them as fp16). Every logits call the engine
// makes is recorded on both: the same vocabulary rows are asked for, the values agree within the
// fp16 tolerance, and the answers are the same, unless a choice is a near-tie on the CPU (top two
// closer than twice the largest difference seen), where the two engines may legitimately part.
// Also: a batch larger than the runner's pass is split without changing the hidden states.
// Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "intent/cuda_backend.h"
#include "intent/engine.h"
#include "intent/llama_backend.h"
#include "model/llama_model.h"
#include "ops/cuda/device.h"
#include "ops/cuda_test_util.h"
#include "test_paths.h"

namespace si {
namespace {

// Forwards to another backend and records every logits call.
class Recorder : public LmBackend {
 public:
  explicit Recorder(LmBackend& b) : b_(b) {}
  int n_vocab() const override { return b_.n_vocab(); }
  int hidden_size() const override { return b_.hidden_size(); }
  int n_slots() const override { return b_.n_slots(); }
  int slot_capacity() const override { return b_.slot_capacity(); }
  size_t slot_bytes() const override { return b_.slot_bytes(); }
  uint64_t model_bytes() const override { return b_.model_bytes(); }
  int slot_length(int slot) const override { return b_.slot_length(slot); }
  void clear_slot(int slot) override { b_.clear_slot(slot); }
  void copy_slot(int src, int dst, int n) override { b_.copy_slot(src, dst, n); }
  void forward(std::span<const Append> batch, float* hidden) override { b_.forward(batch, hidden); }
  void logits(const float* hidden, const int32_t* rows, int n_rows, float* out) override {
    b_.logits(hidden, rows, n_rows, out);
    record(rows, n_rows, out);
  }
  // The backend's own batched path (one pass on the GPU), recorded query by query.
  void logits_batch(const float* hidden, std::span<const LogitsQuery> queries, float* out) override {
    b_.logits_batch(hidden, queries, out);
    for (const LogitsQuery& q : queries) {
      record(q.rows, q.n_rows, out);
      out += q.n_rows;
    }
  }
  void record(const int32_t* rows, int n_rows, const float* out) {
    calls.push_back({rows ? std::vector<int32_t>(rows, rows + n_rows) : std::vector<int32_t>(),
                     std::vector<float>(out, out + n_rows)});
  }
  struct Call {
    std::vector<int32_t> rows;
    std::vector<float> values;
  };
  std::vector<Call> calls;

 private:
  LmBackend& b_;
};

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SI_REQUIRE_CUDA();
    dir_ = test::fixture("gguf/hf");
    SI_REQUIRE_FIXTURE(dir_ + "/model.safetensors");
    model_ = std::make_unique<LlamaModel>(LlamaModel::load(dir_));
  }
  std::string dir_;
  std::unique_ptr<LlamaModel> model_;
};

TEST_F(CudaBackendTest, EngineAnswersAsOnTheCpu) {
  const Tokenizer tok = Tokenizer::load(dir_);
  const TaskSpec spec = load_task_spec("cart");
  const std::vector<std::string> shop1 = {"Roggenbrot 500 g", "Roggenbrot 1 kg", "Butter", "Äpfel 1 kg"};
  const std::vector<std::string> shop2 = {"Milk 1 l", "Milk 2 l", "Bread"};
  const std::vector<IntentRequest> reqs = {{shop1, "zwei Brote", {}},   {shop2, "milk pls", {}},
                                           {shop1, "keine Butter", {}}, {shop2, "3 bread", {}},
                                           {shop1, "Äpfel!", {}},       {shop2, "remove the bread", {}}};
  for (const DecodeMode mode : {DecodeMode::Constrained, DecodeMode::Free}) {
    SCOPED_TRACE(mode == DecodeMode::Free ? "free" : "constrained");
    const IntentOptions eo{.mode = mode, .max_batch = 4, .cache_slots = 2, .max_new_tokens = 12};
    LlamaBackend cpu_backend(*model_, {.n_threads = 2, .n_slots = 6, .capacity = 1024});
    // max_tokens 64: the catalog prefills (hundreds of byte-level tokens) run as several passes.
    CudaBackend gpu_backend(*model_, {.n_slots = 6, .capacity = 1024, .max_tokens = 64});
    Recorder cpu(cpu_backend), gpu(gpu_backend);
    IntentEngine ce(cpu, tok, spec, eo), ge(gpu, tok, spec, eo);
    const auto a = ce.run(reqs), b = ge.run(reqs);
    float max_diff = 0;
    bool tie = false;
    const size_t n = std::min(cpu.calls.size(), gpu.calls.size());
    for (size_t i = 0; i < n && !tie; ++i) {
      const auto& c = cpu.calls[i];
      const auto& g = gpu.calls[i];
      ASSERT_EQ(c.rows, g.rows) << "logits call " << i;
      ASSERT_EQ(c.values.size(), g.values.size());
      for (size_t j = 0; j < c.values.size(); ++j) max_diff = std::max(max_diff, std::fabs(c.values[j] - g.values[j]));
      const size_t bc = size_t(std::max_element(c.values.begin(), c.values.end()) - c.values.begin());
      const size_t bg = size_t(std::max_element(g.values.begin(), g.values.end()) - g.values.begin());
      if (bc != bg) {
        float second = -INFINITY;
        for (size_t j = 0; j < c.values.size(); ++j)
          if (j != bc) second = std::max(second, c.values[j]);
        EXPECT_LT(c.values[bc] - second, 2 * max_diff) << "call " << i << ": the GPU picked another clear winner";
        std::printf("near-tie at logits call %zu (margin %.2e): the engines part there\n", i,
                    double(c.values[bc] - second));
        tie = true;
      }
    }
    std::printf("%zu logits calls compared, max |diff| %.3e\n", n, double(max_diff));
    EXPECT_LT(max_diff, 2e-2);
    EXPECT_GT(n, reqs.size());  // every request made at least one choice
    if (tie) continue;
    EXPECT_EQ(cpu.calls.size(), gpu.calls.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
      SCOPED_TRACE(reqs[i].text);
      EXPECT_EQ(a[i].answer, b[i].answer);
      EXPECT_EQ(a[i].cached_tokens, b[i].cached_tokens);
      if (mode == DecodeMode::Constrained) {
        ASSERT_TRUE(b[i].output.has_value()) << b[i].error;  // constrained: always valid
        EXPECT_NEAR(std::log(a[i].confidence), std::log(b[i].confidence), 2e-2);
      }
    }
  }
}

// The batched logits (CudaLlamaRunner::logits_pairs: one upload, launch and download for every
// query) are bitwise the per-row ones, so the engine's answers do not depend on batching; queries
// of the full vocabulary take the per-row path.
TEST_F(CudaBackendTest, BatchedLogitsEqualPerRow) {
  CudaBackend backend(*model_, {.n_slots = 3, .capacity = 64, .max_tokens = 64});
  const int C = backend.hidden_size(), V = backend.n_vocab();
  const std::vector<int32_t> t0 = {1, 17, 300, 5}, t1 = {9}, t2 = {40, 41, 42};
  const LmBackend::Append batch[] = {{0, t0.data(), 4}, {1, t1.data(), 1}, {2, t2.data(), 3}};
  std::vector<float> hidden(size_t(3 * C));
  backend.forward(batch, hidden.data());
  std::vector<int32_t> many(300);
  for (size_t i = 0; i < many.size(); ++i) many[i] = int32_t((i * 7919) % size_t(V));
  const std::vector<int32_t> r0 = {5, 0, V - 1, 77}, r2 = {123}, r1 = {3, 4, 5, 6, 7, 8, 9};
  for (const bool full : {false, true}) {
    std::vector<LmBackend::LogitsQuery> q = {{2, r0.data(), 4}, {0, r2.data(), 1}, {1, r1.data(), 7},
                                             {2, r1.data(), 7}, {0, many.data(), 300}};
    if (full) q.push_back({1, nullptr, V});
    size_t total = 0;
    for (const auto& qq : q) total += size_t(qq.n_rows);
    std::vector<float> batched(total, NAN);
    backend.logits_batch(hidden.data(), q, batched.data());
    size_t at = 0;
    for (const LmBackend::LogitsQuery& qq : q) {
      std::vector<float> one(size_t(qq.n_rows));
      backend.logits(hidden.data() + size_t(qq.hidden_row) * size_t(C), qq.rows, qq.n_rows, one.data());
      for (size_t i = 0; i < one.size(); ++i)
        ASSERT_EQ(batched[at + i], one[i]) << "hidden row " << qq.hidden_row << ", entry " << i << (full ? " (with a full row)" : "");
      at += one.size();
    }
  }
}

// One batch of 150 tokens over three slots through passes of 64 tokens (an entry split across
// passes) gives the hidden states of one pass of 256.
TEST_F(CudaBackendTest, BatchesLargerThanAPassAreSplit) {
  const int C = model_->config().hidden_size, V = model_->config().vocab_size;
  CudaBackend small(*model_, {.n_slots = 3, .capacity = 256, .max_tokens = 64});
  CudaBackend big(*model_, {.n_slots = 3, .capacity = 256, .max_tokens = 256});
  std::vector<int32_t> t0(70), t1(75), t2(5);
  for (size_t i = 0; i < t0.size(); ++i) t0[i] = int32_t((i * 31 + 1) % size_t(V));
  for (size_t i = 0; i < t1.size(); ++i) t1[i] = int32_t((i * 17 + 5) % size_t(V));
  for (size_t i = 0; i < t2.size(); ++i) t2[i] = int32_t((i * 7 + 9) % size_t(V));
  const LmBackend::Append batch[] = {{0, t0.data(), 70}, {1, t1.data(), 75}, {2, t2.data(), 5}};
  std::vector<float> hs(size_t(3 * C)), hb(size_t(3 * C));
  small.forward(batch, hs.data());
  big.forward(batch, hb.data());
  double num = 0, den = 0;
  for (size_t i = 0; i < hs.size(); ++i) {
    num += (double(hs[i]) - hb[i]) * (double(hs[i]) - hb[i]);
    den += double(hb[i]) * hb[i];
  }
  EXPECT_LT(std::sqrt(num / den), 1e-2);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(small.slot_length(s), big.slot_length(s));
  EXPECT_EQ(small.slot_length(1), 75);
}

}  // namespace
}  // namespace si
