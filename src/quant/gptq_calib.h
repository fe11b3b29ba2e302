// quant/gptq_calib.h — calibration data for GPTQ and the fp32 pieces of a Llama decoder layer that
// sequential quantization runs between quantizing its Linears.
//
//   si::CalibSet cs = si::load_calibration("data/train.jsonl", tok, spec, /*samples=*/128, /*max_len=*/512);
//   si::CalibForward f(cfg, cs, pool);                     // RoPE table, causal attention per sample
//   f.embed(embed_tokens, x);                              // x (N, C)
//   f.attention(q, k, v, att);                             // q (N, H*D) k, v (N, KVH*D) -> att (N, H*D)
//   si::linear(pool, xn, w, N, I, O, y);                   // y (N, O) = xn (N, I) w^T (O, I)
//
// All samples are packed into one (N, .) activation matrix (N = total tokens); each sample is its own
// sequence (positions from 0, attending only to itself), as each calibration example is a batch row
// in AutoGPTQ. A sample is the trainer's encoding (train/dataset.h): prompt (bos + catalog + request)
// followed by the answer and eos.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/big_vector.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/llama_config.h"
#include "ops/rope.h"

namespace si {

class Tokenizer;
struct TaskSpec;

struct CalibSet {
  std::vector<int32_t> tokens;     // (N) all samples back to back
  std::vector<int32_t> pos;        // (N) position of each token in its sample
  std::vector<int64_t> start, len; // (S) first token and length of each sample
  int64_t rows_read = 0;           // JSONL rows tokenized (some may be too long)
  int64_t skipped_too_long = 0;
  int64_t samples() const { return int64_t(start.size()); }
  int64_t n_tokens() const { return int64_t(tokens.size()); }
};

// The first `samples` rows of a datagen JSONL file (rows longer than max_len tokens are skipped).
// Throws si::Error when the file yields no sample.
CalibSet load_calibration(const std::string& jsonl, const Tokenizer& tok, const TaskSpec& spec, int samples, int max_len);

// y (n, out) = x (n, in) w^T, w (out, in) row-major fp32 (ops/cpu/sgemm on the pool's threads).
void linear(ThreadPool& pool, const float* x, const float* w, int64_t n, int64_t in, int64_t out, float* y);

class CalibForward {
 public:
  CalibForward(const LlamaConfig& cfg, const CalibSet& cs, ThreadPool& pool);
  // x (N, C) = rows of the embedding table (any stored dtype).
  void embed(const TensorView& table, float* x);
  // HF rotary embedding on q (N, H*D) and k (N, KVH*D) in place, then causal GQA attention of each
  // sample over its own tokens: att (N, H*D).
  void attention(float* q, float* k, const float* v, float* att);

 private:
  const LlamaConfig& cfg_;
  const CalibSet& cs_;
  ThreadPool& pool_;
  ops::RopeTable rope_;
  big_vector<float> kc_, vc_;  // per-sample (KVH, T_s, D) blocks, back to back
};

}  // namespace si
