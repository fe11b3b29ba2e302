// Batching, shared prefixes, selected logits and malformed models, on the fixture's small model.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/llama_runner.h"
#include "model/random_model.h"
#include "test_paths.h"

namespace si {
namespace {

float max_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = test::fixture("gguf/model-Q8_0.gguf");
    SI_REQUIRE_FIXTURE(path_);
    model_ = std::make_unique<LlamaModel>(LlamaModel::load(path_));
  }
  std::string path_;
  std::unique_ptr<LlamaModel> model_;
};

TEST_F(RunnerTest, SequencesOfDifferentLengthsInOneBatchMatchSeparateRuns) {
  const int C = model_->config().hidden_size;
  const std::vector<int32_t> a = {510, 40, 308, 68, 291, 220, 17}, b = {510, 79, 69}, c = {510};
  std::vector<std::vector<float>> alone;
  for (const auto* s : {&a, &b, &c}) {
    LlamaRunner r(*model_, {.n_threads = 2, .n_slots = 1, .capacity = 16});
    std::vector<float> h(static_cast<size_t>(C));
    LlamaRunner::Append ap{0, s->data(), int(s->size())};
    r.append({&ap, 1}, h.data());
    alone.push_back(h);
  }
  LlamaRunner r(*model_, {.n_threads = 2, .n_slots = 3, .capacity = 16});
  const LlamaRunner::Append batch[] = {{2, c.data(), 1}, {0, a.data(), 7}, {1, b.data(), 3}};
  std::vector<float> h(3 * static_cast<size_t>(C));
  r.append(batch, h.data());
  EXPECT_LT(max_diff(h.data(), alone[2].data(), size_t(C)), 1e-5f);
  EXPECT_LT(max_diff(h.data() + C, alone[0].data(), size_t(C)), 1e-5f);
  EXPECT_LT(max_diff(h.data() + 2 * C, alone[1].data(), size_t(C)), 1e-5f);
  EXPECT_EQ(r.cache().length(0), 7);
  EXPECT_EQ(r.cache().length(1), 3);
  EXPECT_EQ(r.cache().length(2), 1);
}

TEST_F(RunnerTest, SharedAndCopiedPrefixesGiveTheLogitsOfTheWholeSequence) {
  const std::vector<int32_t> prefix = {510, 40, 308, 68, 291}, req1 = {220, 17, 220}, req2 = {127, 226};
  const int V = model_->config().vocab_size, C = model_->config().hidden_size;
  auto whole = [&](const std::vector<int32_t>& req) {
    LlamaRunner r(*model_, {.n_threads = 2, .n_slots = 1, .capacity = 16});
    std::vector<int32_t> ids = prefix;
    ids.insert(ids.end(), req.begin(), req.end());
    auto l = r.eval(0, ids);
    return std::vector<float>(l.end() - V, l.end());  // last position
  };
  LlamaRunner r(*model_, {.n_threads = 2, .n_slots = 4, .capacity = 16});
  LlamaRunner::Append p{0, prefix.data(), int(prefix.size())};
  r.append({&p, 1}, nullptr);
  r.cache().share_prefix(0, 1, int(prefix.size()));
  r.cache().copy_slot(0, 2, int(prefix.size()));
  r.cache().share_prefix(0, 3, int(prefix.size()));
  const LlamaRunner::Append batch[] = {{1, req1.data(), 3}, {2, req2.data(), 2}, {3, req2.data(), 2}};
  std::vector<float> h(3 * static_cast<size_t>(C)), l(3 * static_cast<size_t>(V));
  r.append(batch, h.data());
  r.logits(h.data(), 3, {}, l.data());
  const auto w1 = whole(req1), w2 = whole(req2);
  EXPECT_LT(max_diff(l.data(), w1.data(), size_t(V)), 1e-5f);
  EXPECT_LT(max_diff(l.data() + V, w2.data(), size_t(V)), 1e-5f);
  EXPECT_LT(max_diff(l.data() + 2 * V, w2.data(), size_t(V)), 1e-5f);
  // Selected vocabulary rows are those columns of the full logits.
  const std::vector<int32_t> rows = {5, 511, 0};
  std::vector<float> sel(3 * rows.size());
  r.logits(h.data(), 3, rows, sel.data());
  for (int i = 0; i < 3; ++i)
    for (size_t j = 0; j < rows.size(); ++j) EXPECT_NEAR(sel[size_t(i) * 3 + j], l[size_t(i * V + rows[j])], 1e-5f);
  EXPECT_THROW(r.cache().share_prefix(1, 2, 9), Error);  // more than slot 1's own prefix: must copy
}

TEST_F(RunnerTest, KvCacheBytesAreExact) {
  LlamaRunner r(*model_, {.n_threads = 1, .n_slots = 3, .capacity = 100});
  const auto& c = model_->config();
  EXPECT_EQ(r.cache().bytes(), size_t(c.n_layers) * 3 * 2 * size_t(c.kv_dim()) * 100 * sizeof(float));
  const std::vector<int32_t> many(101, 1);
  LlamaRunner::Append a{0, many.data(), 101};
  EXPECT_THROW(r.append({&a, 1}, nullptr), Error);
}

// A copy of the F32 fixture with one change, to check the loader's errors.
std::string broken_copy(const std::string& name, const std::string& drop, const std::string& reshape,
                        const std::string& arch) {
  const GgufFile g = GgufFile::open(test::fixture("gguf/model-F32.gguf"));
  GgufWriter w;
  for (const auto& kv : g.metadata()) w.set(kv.key, kv.value);
  if (!arch.empty()) w.set("general.architecture", GgufValue::of(arch));
  for (const auto& t : g.tensors()) {
    if (t.name == drop) continue;
    Shape s = t.shape;
    if (t.name == reshape) s = {s[1], s[0]};
    w.add_tensor(t.name, t.dtype, s, g.view(t).data);
  }
  const std::string path = (test::temp_dir() / name).string();
  w.write(path);
  return path;
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    LlamaModel::load(path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(LlamaLoad, MalformedModelsNameTheTensorAndTheExpectation) {
  SI_REQUIRE_FIXTURE(test::fixture("gguf/model-F32.gguf"));
  expect_error(broken_copy("missing.gguf", "blk.1.ffn_up.weight", "", ""), "tensor 'blk.1.ffn_up.weight' is missing");
  expect_error(broken_copy("shape.gguf", "", "blk.0.attn_k.weight", ""),
               "tensor 'blk.0.attn_k.weight' has shape [256, 128], expected [128, 256]");
  expect_error(broken_copy("arch.gguf", "", "", "gpt2"), "only \"llama\" is supported");
  expect_error(test::fixture("gguf/does-not-exist.gguf"), "no such file");
}

TEST(RandomModel, WritesLoadableGgufWithLlamaCppTypeMix) {
  LlamaConfig cfg = llama_config_preset("tiny");
  cfg.n_layers = 8;
  const std::string path = (test::temp_dir() / "r.gguf").string();
  ThreadPool pool(2);
  write_random_gguf(cfg, "Q4_K_M", 3, path, &pool);
  const LlamaModel m = LlamaModel::load(path);
  EXPECT_EQ(m.config().n_layers, 8);
  EXPECT_EQ(m.weights().tok_embd.dtype, DType::Q6_K);
  EXPECT_EQ(m.weights().layers[0].wv.dtype, DType::Q6_K);  // use_more_bits(0, 8)
  EXPECT_EQ(m.weights().layers[1].wv.dtype, DType::Q4_K);
  EXPECT_EQ(m.weights().layers[3].w_down.dtype, DType::Q6_K);  // (3 - 1) % 3 == 2
  EXPECT_EQ(m.weights().layers[3].wq.dtype, DType::Q4_K);
  EXPECT_EQ(m.config().rope_scaling.type, "llama3");
  LlamaRunner r(m, {.n_threads = 2, .n_slots = 1, .capacity = 8});
  const std::vector<int32_t> ids = {1, 2, 3};
  const auto l = r.eval(0, ids);
  for (float x : l) ASSERT_TRUE(std::isfinite(x));
}

}  // namespace
}  // namespace si
