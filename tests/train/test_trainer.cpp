// Optimiser, schedule, clipping, batches, and the loop: exact resume, early stopping, learning.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "test_paths.h"
#include "train/batches.h"
#include "train/optim.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace si {
namespace {

TEST(AdamW, MatchesTorchFormulaInDouble) {
  // Three steps against the textbook update in double: agreement to float rounding.
  train::AdamWConfig c;
  c.weight_decay = 0.1;
  train::AdamW opt(3, c);
  std::vector<float> p{0.5f, -1.0f, 2.0f};
  std::vector<double> pd(p.begin(), p.end()), m(3, 0.0), v(3, 0.0);
  const double lr = 1e-2;
  for (int t = 1; t <= 3; t++) {
    std::vector<float> g{0.1f * float(t), -0.3f, 1e-4f};
    opt.step(p.data(), g.data(), lr);
    for (int i = 0; i < 3; i++) {
      pd[size_t(i)] *= 1 - lr * c.weight_decay;
      m[size_t(i)] = 0.9 * m[size_t(i)] + 0.1 * g[size_t(i)];
      v[size_t(i)] = 0.999 * v[size_t(i)] + 0.001 * double(g[size_t(i)]) * g[size_t(i)];
      const double mh = m[size_t(i)] / (1 - std::pow(0.9, t)), vh = v[size_t(i)] / (1 - std::pow(0.999, t));
      pd[size_t(i)] -= lr * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  for (int i = 0; i < 3; i++) EXPECT_NEAR(p[size_t(i)], pd[size_t(i)], 2e-7 * std::fabs(pd[size_t(i)]) + 1e-9) << i;
  EXPECT_EQ(opt.steps(), 3);
}

TEST(Schedule, CosineWithWarmupAsTransformers) {
  EXPECT_EQ(train::cosine_with_warmup(1.0, 0, 10, 110), 0.0);  // LambdaLR's first step
  EXPECT_DOUBLE_EQ(train::cosine_with_warmup(1.0, 5, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(train::cosine_with_warmup(1.0, 10, 10, 110), 1.0);
  EXPECT_NEAR(train::cosine_with_warmup(1.0, 60, 10, 110), 0.5, 1e-12);
  EXPECT_NEAR(train::cosine_with_warmup(1.0, 110, 10, 110), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(train::cosine_with_warmup(2e-4, 3, 0, 1), 0.0);  // past the end: clamped at 0
}

TEST(Clip, GlobalNormAcrossTensors) {
  train::ParamSet<float> ps;
  ps.add("a", {2});
  ps.add("b", {1});
  std::vector<float> g{3.0f, 0.0f, 4.0f};
  EXPECT_FLOAT_EQ(float(train::clip_grad_norm(g, ps.entries, 1.0)), 5.0f);
  EXPECT_NEAR(g[0], 0.6f, 1e-6);
  EXPECT_NEAR(g[2], 0.8f, 1e-6);
  std::vector<float> h{0.3f, 0.0f, 0.4f};
  train::clip_grad_norm(h, ps.entries, 1.0);
  EXPECT_EQ(h[0], 0.3f);  // below the limit: coefficient clamps to 1
}

std::vector<train::Example> examples(int n, int vocab, uint64_t seed) {
  train::Rng r(seed);
  std::vector<train::Example> ex(static_cast<size_t>(n));
  for (auto& e : ex) {
    const int p = 2 + int(r.below(5)), a = 1 + int(r.below(3));
    for (int i = 0; i < p; i++) e.prompt.push_back(int32_t(r.below(uint64_t(vocab))));
    for (int i = 0; i < a; i++) e.answer.push_back(int32_t((e.prompt[0] + i) % vocab));  // learnable
  }
  return ex;
}

TEST(Batches, LengthBucketedDeterministicAndComplete) {
  const auto ex = examples(100, 13, 1);
  const auto a = train::epoch_batches(ex, 8, 7, 0), b = train::epoch_batches(ex, 8, 7, 0), c = train::epoch_batches(ex, 8, 7, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int> seen(100, 0);
  size_t padded = 0, real = 0;
  for (const auto& batch : a) {
    size_t mx = 0;
    for (int32_t r : batch) seen[size_t(r)]++, mx = std::max(mx, ex[size_t(r)].size()), real += ex[size_t(r)].size();
    padded += mx * batch.size();
  }
  for (int s : seen) EXPECT_EQ(s, 1);
  EXPECT_LT(double(padded - real) / double(real), 0.1);  // bucketing keeps padding small
  const train::Batch bt = train::make_batch(ex, a[0]);
  int n_targets = 0;
  for (int32_t r : a[0]) n_targets += int(ex[size_t(r)].answer.size());
  int counted = 0;
  for (int32_t t : bt.targets) counted += t >= 0;
  EXPECT_EQ(counted, n_targets);  // every answer token, nothing of the prompt
}

train::TrainConfig loop_config(const std::string& dir) {
  train::TrainConfig c;
  c.out_dir = dir;
  c.batch_size = 4;
  c.grad_accum = 2;
  c.epochs = 3;
  c.lr = 1e-2;
  c.warmup_steps = 2;
  c.save_every = 2;
  c.eval_every = 3;
  c.quiet = true;
  return c;
}

train::ModelOptions lora_options() {
  train::ModelOptions o;
  o.method = train::Method::lora;
  o.lora.rank = 2;
  o.lora.dropout = 0.1f;
  return o;
}

TEST(Trainer, ResumeIsBitwiseEqualToUninterrupted) {
  const LlamaConfig cfg = test::tiny_train_config();
  const auto train = examples(24, cfg.vocab_size, 2), valid = examples(6, cfg.vocab_size, 3);
  const auto dir = test::temp_dir();
  std::vector<float> straight;
  {
    train::TrainModel<float> m(cfg, lora_options());
    m.init_random(1);
    m.init_adapters(2);
    train::Trainer t(m, loop_config((dir / "a").string()), train, valid);
    EXPECT_EQ(t.total_steps(), 9);
    t.run();
    straight = m.adapters().data;
  }
  {
    train::TrainModel<float> m(cfg, lora_options());
    m.init_random(1);
    m.init_adapters(2);
    train::Trainer t(m, loop_config((dir / "b").string()), train, valid);
    EXPECT_FALSE(t.resume());
    t.run(/*stop_after=*/5);  // "killed" after step 5: the last checkpoint is step 4
  }
  train::TrainModel<float> m(cfg, lora_options());
  m.init_random(1);
  m.init_adapters(99);  // overwritten by the checkpoint
  train::Trainer t(m, loop_config((dir / "b").string()), train, valid);
  ASSERT_TRUE(t.resume());
  EXPECT_EQ(t.step(), 4);
  t.run();
  EXPECT_TRUE(m.adapters().data == straight) << "resumed run differs from the uninterrupted one";
  EXPECT_TRUE(std::filesystem::exists(dir / "b" / "checkpoints" / "step-0000009" / "optimizer.safetensors"));
}

TEST(Trainer, LearnsAndEarlyStops) {
  const LlamaConfig cfg = test::tiny_train_config();
  const auto train = examples(32, cfg.vocab_size, 4);
  const auto dir = test::temp_dir();
  train::ModelOptions o;  // full fine-tuning
  train::TrainModel<float> m(cfg, o);
  m.init_random(5);
  train::TrainConfig c = loop_config(dir.string());
  c.epochs = 20;
  c.grad_accum = 1;
  c.eval_every = 0;
  c.save_every = 0;
  c.lr = 3e-2;
  train::Trainer t(m, c, train, train);
  const double before = t.evaluate();
  const train::TrainResult r = t.run();
  EXPECT_LT(r.valid_loss, 0.5 * before) << "the model should fit a learnable toy task";
  EXPECT_GT(r.tokens_per_s, 0.0);

  // lr 0: the valid loss never improves after the first evaluation, so patience 2 stops at step 3.
  train::TrainModel<float> m2(cfg, o);
  m2.init_random(5);
  c.lr = 0;
  c.eval_every = 1;
  c.early_stopping_patience = 2;
  c.out_dir = (dir / "es").string();
  train::Trainer t2(m2, c, train, train);
  const train::TrainResult r2 = t2.run();
  EXPECT_TRUE(r2.early_stopped);
  EXPECT_EQ(r2.steps, 3);
}

}  // namespace
}  // namespace si
