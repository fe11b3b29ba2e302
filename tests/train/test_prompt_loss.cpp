// The prompt loss weight (make_batch's prompt_loss_weight, the trainer's weighted loss): targets and
// weights of a batch, and the loss and gradients as the weighted sum they are defined to be.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "train/batches.h"
#include "train/llama_train.h"
#include "train_test_util.h"

namespace si {
namespace {

std::vector<train::Example> examples() {
  return {{{5, 1, 2, 3}, {4, 7, 12}}, {{5, 6}, {8, 12}}, {{5, 9, 9, 10, 11}, {3, 12}}};
}

TEST(PromptLoss, BatchTargetsAndWeights) {
  const auto ex = examples();
  const train::Batch plain = train::make_batch(ex, {0, 1, 2}, 0);
  EXPECT_TRUE(plain.weights.empty());
  EXPECT_EQ(plain.n_answer, 3 + 2 + 2);
  const train::Batch b = train::make_batch(ex, {0, 1, 2}, 0, 0.25f);
  ASSERT_EQ(b.weights.size(), b.ids.size());
  EXPECT_EQ(b.n_answer, plain.n_answer);
  // Row 0: prompt 4 + answer 3 = 7 tokens in a batch of T = 7: predicts ids[1..6]; the answer's
  // first token (position 3 -> ids[4]) onwards weighs 1, the prompt's own tokens 0.25.
  const std::vector<float> w0 = {0.25f, 0.25f, 0.25f, 1, 1, 1, 0};
  const std::vector<int32_t> t0 = {1, 2, 3, 4, 7, 12, -1};
  for (int t = 0; t < 7; t++) {
    EXPECT_EQ(b.weights[size_t(t)], w0[size_t(t)]) << t;
    EXPECT_EQ(b.targets[size_t(t)], t0[size_t(t)]) << t;
  }
  // Row 1 is padded: no target, no weight past its end.
  for (int t = 3; t < b.T; t++) EXPECT_EQ(b.targets[size_t(b.T + t)], -1);
  EXPECT_THROW(train::make_batch(ex, {0}, 0, 1.5f), Error);
}

struct Outcome {
  double loss;
  std::vector<float> grads;
};

Outcome run(const train::Batch& b, bool all_logits) {
  const LlamaConfig c = test::tiny_train_config();
  train::TrainModel<float> m(c, {});
  m.init_random(3, 0.1f);
  m.keep_all_logits(all_logits);
  m.zero_grad();
  Outcome r;
  r.loss = m.forward(b);
  m.backward();
  r.grads = m.grads();
  return r;
}

// loss(w) = (sum over answer tokens + w * sum over prompt tokens) / n_answer, gradients alike.
TEST(PromptLoss, WeightedLossIsTheWeightedSum) {
  const auto ex = examples();
  const train::Batch b0 = train::make_batch(ex, {0, 1, 2}, 0, 0.0f);  // answer only, unweighted
  train::Batch all = train::make_batch(ex, {0, 1, 2}, 0, 1.0f);       // every token weighs 1
  const Outcome answer = run(b0, false), every = run(all, false);
  // The same targets without weights: the plain mean over every predicted token.
  all.weights.clear();
  int64_t n_all = 0;
  for (int32_t t : all.targets) n_all += t >= 0;
  const Outcome mean_all = run(all, true);
  const double k = double(n_all) / double(b0.n_answer);
  EXPECT_NEAR(every.loss, mean_all.loss * k, 1e-6 * every.loss);
  for (size_t i = 0; i < every.grads.size(); i++) EXPECT_NEAR(every.grads[i], mean_all.grads[i] * k, 1e-5) << i;

  const float w = 0.25f;
  const Outcome quarter = run(train::make_batch(ex, {0, 1, 2}, 0, w), false);
  EXPECT_NEAR(quarter.loss, answer.loss + w * (every.loss - answer.loss), 1e-6 * quarter.loss);
  for (size_t i = 0; i < quarter.grads.size(); i++)
    EXPECT_NEAR(quarter.grads[i], answer.grads[i] + w * (every.grads[i] - answer.grads[i]), 1e-5) << i;
  EXPECT_GT(quarter.loss, answer.loss);
}

}  // namespace
}  // namespace si
