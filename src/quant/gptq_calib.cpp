#include "quant/gptq_calib.h"

#include <cstring>
#include <span>

#include "ops/cpu/sgemm.h"

#include "core/error.h"
#include "data/task_spec.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "tokenizer/tokenizer.h"
#include "train/dataset.h"

namespace si {

CalibSet load_calibration(const std::string& jsonl, const Tokenizer& tok, const TaskSpec& spec, int samples,
                          int max_len) {
  SI_CHECK(samples > 0, "calibration: --samples must be positive, got {}", samples);
  train::DatasetStats st;
  const std::vector<train::Example> ex = train::load_examples(jsonl, tok, spec, max_len, &st);
  if (ex.empty())
    throw Error(fmt::format("no calibration sample ({} rows, {} longer than {} tokens)", st.rows, st.skipped_too_long,
                            max_len)).at(jsonl).hint("pass a datagen JSONL split, e.g. data-run/train.jsonl");
  CalibSet cs;
  cs.rows_read = st.rows;
  cs.skipped_too_long = st.skipped_too_long;
  for (size_t s = 0; s < ex.size() && int64_t(s) < samples; ++s) {
    cs.start.push_back(cs.n_tokens());
    cs.len.push_back(int64_t(ex[s].size()));
    int32_t p = 0;
    for (const auto* part : {&ex[s].prompt, &ex[s].answer})
      for (int32_t id : *part) {
        cs.tokens.push_back(id);
        cs.pos.push_back(p++);
      }
  }
  return cs;
}

void linear(ThreadPool& pool, const float* x, const float* w, int64_t n, int64_t in, int64_t out, float* y) {
  cpu::sgemm_rows(pool, false, true, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
}

CalibForward::CalibForward(const LlamaConfig& cfg, const CalibSet& cs, ThreadPool& pool)
    : cfg_(cfg), cs_(cs), pool_(pool) {
  const std::vector<float> inv_freq = ops::rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling);
  rope_ = ops::rope_table(cs.pos, inv_freq);
  kc_.resize(size_t(cs.n_tokens() * cfg.kv_dim()));
  vc_.resize(kc_.size());
}

void CalibForward::embed(const TensorView& table, float* x) {
  ops::embedding(table, cs_.tokens, TensorView{x, DType::F32, {cs_.n_tokens(), table.dim(1)}}, pool_);
}

void CalibForward::attention(float* q, float* k, const float* v, float* att) {
  const int64_t N = cs_.n_tokens(), H = cfg_.n_heads, KVH = cfg_.n_kv_heads, D = cfg_.head_dim, KV = KVH * D;
  // HF layout (rotate_half pairs i and i + D/2), as the safetensors weights expect.
  ops::rope_apply(TensorView{q, DType::F32, {N, H, D}}, rope_, ops::RopePairing::HalfSplit, pool_);
  ops::rope_apply(TensorView{k, DType::F32, {N, KVH, D}}, rope_, ops::RopePairing::HalfSplit, pool_);
  // Each sample's keys/values as the (KVH, T_s, D) cache block attention reads.
  std::vector<ops::AttnSource> src(static_cast<size_t>(N));
  for (int64_t s = 0; s < cs_.samples(); ++s) {
    const int64_t b = cs_.start[size_t(s)], T = cs_.len[size_t(s)];
    float* kb = kc_.data() + b * KV;
    float* vb = vc_.data() + b * KV;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < KVH; ++h) {
        std::memcpy(kb + (h * T + t) * D, k + (b + t) * KV + h * D, size_t(D) * sizeof(float));
        std::memcpy(vb + (h * T + t) * D, v + (b + t) * KV + h * D, size_t(D) * sizeof(float));
      }
    for (int64_t t = 0; t < T; ++t) src[size_t(b + t)] = ops::AttnSource{kb, vb, T};
  }
  ops::attention(TensorView{q, DType::F32, {N, H, D}}, TensorView{att, DType::F32, {N, H, D}}, int(KVH), src, cs_.pos,
                 pool_);
}

}  // namespace si
