// Load-time repacking (model/llama_model.h, ops/packed_weight.h): a GGUF's quantized matrices run
// from their 16-row packed copies and give the logits of the same file run as stored, in a batch
// and stepwise, with a vocabulary that is not a multiple of 16 (the last group is padded), for
// Q8_0, Q4_0 and the K-quant mixes.
#include <gtest/gtest.h>

#include <cmath>

#include "model/llama_runner.h"
#include "model/random_model.h"
#include "test_paths.h"

namespace si {
namespace {

float max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]) / (1.0f + std::fabs(b[i])));
  return m;
}

TEST(LlamaRepack, PackedMatricesGiveTheLogitsOfTheStoredOnes) {
  LlamaConfig cfg = llama_config_preset("tiny");
  cfg.n_layers = 2;
  cfg.vocab_size = 1000;  // output rows: 62 groups of 16 and one of 8
  cfg.bos_token_id = 998;
  cfg.eos_token_id = 999;
  ThreadPool pool(2);
  const std::vector<int32_t> ids = {998, 5, 17, 300, 999, 42};
  for (const char* type : {"Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M"}) {
    const std::string path = (test::temp_dir() / (std::string(type) + ".gguf")).string();
    write_random_gguf(cfg, type, 7, path, &pool);
    const LlamaModel packed = LlamaModel::load(path);
    const LlamaModel stored = LlamaModel::load(path, {.repack = false});
    const LlamaLayerWeights& l = packed.weights().layers[1];
    for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      EXPECT_NE(packed.packed(*v), nullptr) << type;
    // Q8_0 files keep a Q8_0 output matrix, the others have a Q6_K one: all packed.
    EXPECT_NE(packed.packed(packed.weights().output), nullptr) << type;
    EXPECT_EQ(stored.packed(stored.weights().layers[0].wq), nullptr);
    EXPECT_NE(packed.describe().find("repacked"), std::string::npos);

    LlamaRunner rp(packed, {.n_threads = 2, .n_slots = 2, .capacity = 16});
    LlamaRunner rs(stored, {.n_threads = 2, .n_slots = 2, .capacity = 16});
    const auto lp = rp.eval(0, ids), ls = rs.eval(0, ids);
    EXPECT_LT(max_rel_diff(lp, ls), 1e-4f) << type << " batch";
    std::vector<float> step;
    for (int32_t id : ids) {
      const auto l1 = rp.eval(1, std::span<const int32_t>(&id, 1));
      step.insert(step.end(), l1.begin(), l1.end());
    }
    EXPECT_LT(max_rel_diff(step, ls), 1e-4f) << type << " stepwise";
    // Selected rows read the stored matrix: same values as the full packed logits.
    const std::vector<int32_t> rows = {999, 0, 512, 993};
    std::vector<float> hidden(size_t(cfg.hidden_size)), sel(rows.size());
    LlamaRunner r2(packed, {.n_threads = 2, .n_slots = 1, .capacity = 16});
    LlamaRunner::Append a{0, ids.data(), int(ids.size())};
    r2.append({&a, 1}, hidden.data());
    r2.logits(hidden.data(), 1, rows, sel.data());
    const size_t last = (ids.size() - 1) * size_t(cfg.vocab_size);
    for (size_t j = 0; j < rows.size(); ++j)
      EXPECT_NEAR(sel[j], lp[last + size_t(rows[j])], 1e-4f * (1 + std::fabs(sel[j]))) << type << " row " << rows[j];
  }
}

}  // namespace
}  // namespace si
