// The intent engine on the real CPU model (the llama.cpp fixture, random weights): the catalog
// prefix cache and batching must not change answers or their probabilities.
#include <cmath>

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

}  // namespace
}  // namespace si
