// The intent engine on the real CPU model (the llama.cpp fixture, random weights): the catalog
// prefix cache and batching must not change answers or their probabilities.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "intent/engine.h"
#include "intent/llama_backend.h"
#include "model/llama_model.h"
#include "test_paths.h"

namespace si {
namespace {

TEST(LlamaBackend, CachedBatchedDecodingEqualsUncached) {
  const std::string path = test::fixture("gguf/model-Q8_0.gguf");
  SI_REQUIRE_FIXTURE(path);
  const LlamaModel model = LlamaModel::load(path);
  const Tokenizer tok = Tokenizer::load(path);
  const TaskSpec spec = load_task_spec("cart");
  const std::vector<std::string> shop1 = {"Roggenbrot 500 g", "Roggenbrot 1 kg", "Butter", "Äpfel 1 kg"};
  const std::vector<std::string> shop2 = {"Milk 1 l", "Milk 2 l", "Bread"};
  std::vector<IntentRequest> reqs = {{shop1, "zwei Brote", {}}, {shop2, "milk pls", {}}, {shop1, "keine Butter", {}},
                                     {shop2, "3 bread", {}}, {shop1, "Äpfel!", {}}};
  LlamaBackend cached_backend(model, {.n_threads = 2, .n_slots = 2 + 5, .capacity = 1024});
  LlamaBackend plain_backend(model, {.n_threads = 1, .n_slots = 1 + 1, .capacity = 1024});
  IntentEngine cached(cached_backend, tok, spec, {.max_batch = 5, .cache_slots = 2});
  IntentEngine plain(plain_backend, tok, spec, {.max_batch = 1, .cache_slots = 1, .use_cache = false});
  const auto a = cached.run(reqs), b = plain.run(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    SCOPED_TRACE(reqs[i].text);
    ASSERT_TRUE(a[i].output.has_value()) << a[i].error;  // constrained: always valid
    EXPECT_EQ(a[i].answer, b[i].answer);
    EXPECT_NEAR(std::log(a[i].confidence), std::log(b[i].confidence), 1e-3);
    EXPECT_GT(a[i].cached_tokens, 0);
  }
  EXPECT_EQ(cached.cache().misses(), 2u);
}

// logits_batch (the default loop here) gives, query after query, exactly what logits() gives for
// the same hidden row: selected rows of different lengths, a repeated hidden row, the full vocabulary.
TEST(LlamaBackend, BatchedLogitsEqualPerRow) {
  const std::string path = test::fixture("gguf/model-Q8_0.gguf");
  SI_REQUIRE_FIXTURE(path);
  const LlamaModel model = LlamaModel::load(path);
  LlamaBackend backend(model, {.n_threads = 2, .n_slots = 3, .capacity = 64});
  const int C = backend.hidden_size(), V = backend.n_vocab();
  const std::vector<int32_t> t0 = {1, 17, 300, 5}, t1 = {9}, t2 = {40, 41, 42};
  const LmBackend::Append batch[] = {{0, t0.data(), 4}, {1, t1.data(), 1}, {2, t2.data(), 3}};
  std::vector<float> hidden(size_t(3 * C));
  backend.forward(batch, hidden.data());
  const std::vector<int32_t> r0 = {5, 0, V - 1, 77}, r2 = {123}, r1 = {3, 4, 5, 6, 7, 8, 9};
  const LmBackend::LogitsQuery q[] = {{2, r0.data(), 4}, {0, r2.data(), 1}, {1, r1.data(), 7}, {2, r1.data(), 7},
                                      {0, nullptr, V}};
  std::vector<float> batched(size_t(4 + 1 + 7 + 7 + V));
  backend.logits_batch(hidden.data(), q, batched.data());
  size_t at = 0;
  for (const LmBackend::LogitsQuery& qq : q) {
    std::vector<float> one(size_t(qq.n_rows));
    backend.logits(hidden.data() + size_t(qq.hidden_row) * size_t(C), qq.rows, qq.n_rows, one.data());
    for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(batched[at + i], one[i]) << "query row " << qq.hidden_row << " #" << i;
    at += one.size();
  }
}

}  // namespace
}  // namespace si
