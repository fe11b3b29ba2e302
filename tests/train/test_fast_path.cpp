// The fast CPU path (OpenBLAS + threads) against the plain-loop reference, and the methods against
// each other: LoRA at init equals the base model, QLoRA equals LoRA on the dequantized NF4 base.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "quant/nf4.h"
#include "train/llama_train.h"
#include "train_test_util.h"

namespace si {
namespace {

LlamaConfig wider_config() {
  LlamaConfig c = test::tiny_train_config();
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.head_dim = 8;
  return c;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); i++) {
    num = std::max(num, double(std::fabs(a[i] - b[i])));
    den = std::max(den, double(std::fabs(b[i])));
  }
  return num / std::max(den, 1e-30);
}

struct Result {
  double loss;
  std::vector<float> logits, grads;
};

Result run(const LlamaConfig& c, train::ModelOptions o, const train::Batch& b, bool random_b = true,
           bool all_logits = true) {
  train::TrainModel<float> m(c, o);
  m.keep_all_logits(all_logits);
  m.init_random(3, 0.1f);
  if (o.method != train::Method::full) {
    m.init_adapters(4);
    if (random_b) {
      train::Rng r(5);
      for (auto& e : m.adapters().entries)
        if (e.name.find("lora_B") != std::string::npos)
          for (int64_t i = 0; i < e.numel; i++) m.adapters().data[size_t(e.offset + i)] = float(r.normal() * 0.05);
    }
  }
  if (o.method == train::Method::qlora) m.quantize_base();
  m.zero_grad();
  Result res;
  res.loss = m.forward(b);
  res.logits.assign(m.logits(), m.logits() + (all_logits ? int64_t(b.B) * b.T : m.n_loss_tokens()) * c.vocab_size);
  m.backward();
  res.grads = m.grads();
  return res;
}

TEST(FastPath, FullAndLoraMatchReference) {
  const LlamaConfig c = wider_config();
  const train::Batch b = test::make_batch(3, 9, c.vocab_size, 4, 6);
  ThreadPool pool(2);
  for (auto method : {train::Method::full, train::Method::lora}) {
    train::ModelOptions o;
    o.method = method;
    o.lora.rank = 4;
    o.lora.dropout = 0.1f;
    const Result ref = run(c, o, b);
    o.fast = true;
    o.pool = &pool;
    const Result fast = run(c, o, b);
    EXPECT_NEAR(fast.loss, ref.loss, 1e-6 * ref.loss) << train::method_name(method);
    EXPECT_LT(max_rel_diff(fast.logits, ref.logits), 1e-5) << train::method_name(method);
    EXPECT_LT(max_rel_diff(fast.grads, ref.grads), 1e-4) << train::method_name(method);
  }
}

// The head on the loss rows alone (what the trainer runs) gives the loss, the loss rows' logits and
// the gradients of the head on every position.
TEST(FastPath, HeadOnLossRowsOnlyEqualsFullHead) {
  const LlamaConfig c = wider_config();
  const train::Batch b = test::make_batch(3, 9, c.vocab_size, 4, 6);
  ThreadPool pool(2);
  for (bool fast : {false, true}) {
    train::ModelOptions o;
    o.method = train::Method::full;
    o.fast = fast;
    o.pool = fast ? &pool : nullptr;
    const Result all = run(c, o, b), some = run(c, o, b, true, /*all_logits=*/false);
    std::vector<float> loss_rows;
    for (size_t i = 0; i < b.targets.size(); i++)
      if (b.targets[i] >= 0)
        loss_rows.insert(loss_rows.end(), all.logits.begin() + int64_t(i) * c.vocab_size,
                         all.logits.begin() + int64_t(i + 1) * c.vocab_size);
    ASSERT_GT(loss_rows.size(), 0u);
    ASSERT_LT(loss_rows.size(), all.logits.size());  // the batch has prompt rows to leave out
    EXPECT_NEAR(some.loss, all.loss, 1e-6 * all.loss) << (fast ? "fast" : "reference");
    EXPECT_LT(max_rel_diff(some.logits, loss_rows), 1e-6) << (fast ? "fast" : "reference");
    EXPECT_LT(max_rel_diff(some.grads, all.grads), 1e-5) << (fast ? "fast" : "reference");
  }
}

TEST(Methods, LoraAtInitEqualsBase) {
  const LlamaConfig c = wider_config();
  const train::Batch b = test::make_batch(2, 7, c.vocab_size, 3, 7);
  train::ModelOptions full, lora;
  lora.method = train::Method::lora;
  const Result base = run(c, full, b), adapted = run(c, lora, b, /*random_b=*/false);
  EXPECT_EQ(base.loss, adapted.loss);
  EXPECT_TRUE(base.logits == adapted.logits);
}

TEST(Methods, QloraEqualsLoraOnDequantizedBase) {
  const LlamaConfig c = wider_config();
  const train::Batch b = test::make_batch(2, 7, c.vocab_size, 3, 8);
  train::ModelOptions o;
  o.method = train::Method::qlora;
  o.lora.rank = 4;
  const Result q = run(c, o, b);

  // The same LoRA on a base whose linear weights are replaced by their NF4 round trip.
  o.method = train::Method::lora;
  train::TrainModel<float> m(c, o);
  m.init_random(3, 0.1f);
  m.init_adapters(4);
  train::Rng r(5);
  for (auto& e : m.adapters().entries)
    if (e.name.find("lora_B") != std::string::npos)
      for (int64_t i = 0; i < e.numel; i++) m.adapters().data[size_t(e.offset + i)] = float(r.normal() * 0.05);
  for (int l = 0; l < c.n_layers; l++)
    for (int p = 0; p < train::kNumProj; p++) {
      std::vector<float> scratch;
      float* w = const_cast<float*>(m.base_weight(l, p, scratch));
      const auto shape = m.proj_shape(p);
      const Nf4Tensor nq = nf4_quantize(w, shape[0] * shape[1]);
      nf4_dequantize(nq, w);
    }
  m.zero_grad();
  const double loss = m.forward(b);
  m.backward();
  EXPECT_EQ(q.loss, loss);
  EXPECT_TRUE(q.grads == m.grads());
  // and the quantized base really differs from the fp32 one
  o.method = train::Method::lora;
  EXPECT_NE(run(c, o, b).loss, q.loss);
}

}  // namespace
}  // namespace si
