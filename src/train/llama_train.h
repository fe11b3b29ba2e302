// train/llama_train.h — the trainable Llama-family model: a forward that keeps what the backward needs,
// the backward, and the three methods (full, LoRA, QLoRA). fp32 for training, fp64 for gradient checks.
//
//   si::train::ModelOptions o; o.method = si::train::Method::lora; o.lora.rank = 8;
//   si::train::TrainModel<float> m(cfg, o);
//   m.init_random(/*seed=*/1);           // or fill m.base() from a checkpoint
//   m.init_adapters(/*seed=*/2);         // LoRA A kaiming-uniform(a=sqrt(5)), B = 0 (as peft)
//   m.zero_grad();
//   double loss = m.forward(batch);      // mean CE over answer tokens
//   m.backward();                        // m.grads() += d loss / d trainable()
//
// Parameter names are Hugging Face's (model.layers.N.self_attn.q_proj.weight, ...) for the base and
// peft's (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight) for adapters, so checkpoints
// and adapters need no renaming. Right-padded batches need no attention mask: causal attention never
// lets a real position see the padding after it, and padded targets are -1.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/arena.h"
#include "formats/llama_config.h"
#include "quant/nf4.h"
#include "train/params.h"

namespace si {
class ThreadPool;
}

namespace si::train {

enum class Method { full, lora, qlora };
Method method_from_name(const std::string& s);  // "full" | "lora" | "qlora"
const char* method_name(Method m);

// The seven projections of a decoder layer, in peft's target-module names.
enum Proj { kQ, kK, kV, kO, kGate, kUp, kDown, kNumProj };
const char* proj_name(int p);      // "q_proj", ...
const char* proj_module(int p);    // "self_attn.q_proj", "mlp.gate_proj", ...

struct LoraConfig {
  int rank = 8;
  float alpha = 16.0f;
  float dropout = 0.0f;
  std::array<bool, kNumProj> targets{true, true, true, true, true, true, true};
  float scaling() const { return alpha / float(rank); }
};

struct ModelOptions {
  Method method = Method::full;
  LoraConfig lora;
  bool checkpoint_activations = false;  // keep only each layer's input; recompute the layer in backward
  bool fast = false;                    // BLAS + threads (float only); otherwise the plain-loop reference
  ThreadPool* pool = nullptr;           // for the fast path; null = single thread
};

struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> ids;      // (B, T) input tokens, right-padded
  std::vector<int32_t> targets;  // (B, T) token to predict at each position, -1 = no loss (prompt, pad)
  // Optional (B, T) loss weights of the targets (empty: every target weighs 1). The loss is then
  // sum(weight * cross-entropy) / n_answer: prompt tokens weighted below 1 add to the answer loss.
  std::vector<float> weights;
  int64_t n_answer = 0;          // the normaliser when weights are given (answer tokens)
};

// cos, sin (T, D/2) of HF's LlamaRotaryEmbedding, llama3 scaling included (computed in float as HF).
template <typename T> void rope_tables(const LlamaConfig& c, int64_t T_, std::vector<T>& cos, std::vector<T>& sin);

template <typename T> class TrainModel {
 public:
  TrainModel(const LlamaConfig& cfg, const ModelOptions& opt);
  ~TrainModel();
  TrainModel(const TrainModel&) = delete;
  TrainModel& operator=(const TrainModel&) = delete;

  const LlamaConfig& config() const { return cfg_; }
  const ModelOptions& options() const { return opt_; }

  // Base weights under HF names (linear weights of a QLoRA model are not here but in nf4()).
  ParamSet<T>& base() { return base_; }
  const ParamSet<T>& base() const { return base_; }
  ParamSet<T>& adapters() { return lora_; }  // empty for Method::full
  const ParamSet<T>& adapters() const { return lora_; }
  ParamSet<T>& trainable() { return opt_.method == Method::full ? base_ : lora_; }
  std::vector<T>& grads() { return grad_; }  // layout of trainable()

  void init_random(uint64_t seed, float stddev = 0.02f);  // HF init: N(0, std) linears/embeddings, norms 1
  void init_adapters(uint64_t seed);
  // QLoRA: quantize the base linear weights to NF4 (double quant) and drop their fp32 copies.
  // Called once base() holds the real weights.
  void quantize_base();
  const std::vector<Nf4Tensor>& nf4() const { return nf4_; }  // (L * kNumProj) when quantized
  // The base weight of projection p of layer l (O, I): a pointer into base() or, for QLoRA, the
  // dequantized NF4 weight written into scratch (resized as needed).
  const T* base_weight(int l, int p, std::vector<T>& scratch) const;
  Shape proj_shape(int p) const;  // {out, in}

  void zero_grad();
  // Runs the model on the batch, keeps activations, returns the mean cross-entropy over targets >= 0
  // (weighted by batch.weights when given; those need keep_all_logits(false)).
  double forward(const Batch& batch);
  // Accumulates loss_scale * d loss / d params into grads(); uses the last forward's activations.
  void backward(double loss_scale = 1.0);
  // Dropout masks are a hash of (seed, step, layer, projection, element): recomputation
  // (activation checkpointing) and resumed runs see the same masks.
  void set_dropout_step(uint64_t seed, uint64_t step) { drop_seed_ = seed; drop_step_ = step; }
  // Evaluation turns LoRA dropout off (torch's model.eval()).
  void set_training(bool on) { training_ = on; }

  // By default forward() keeps the logits of every position, logits() (B, T, V). Training needs only
  // the rows that carry a target (the answer tokens, a few percent of a prompt-heavy batch): with
  // this off the head runs on those rows alone and logits() holds (n_loss_tokens(), V).
  void keep_all_logits(bool on) { keep_all_logits_ = on; }
  const T* logits() const { return logits_; }  // (B, T, V) of the last forward (see keep_all_logits)
  int64_t n_loss_tokens() const { return n_valid_; }
  uint64_t activation_bytes() const { return acts_.bytes_used(); }

 private:
  struct LayerActs;
  struct GradScratch;
  void build_tables();
  void alloc_acts(int B, int Tn);
  void layer_forward(int l, const T* x_in, LayerActs& a, T* x_out);
  void layer_backward(int l, const T* x_in, LayerActs& a, T* dx);  // dx: in d x_out, out d x_in
  void proj_forward(int l, int p, const T* x, T* y, T* u, int64_t N);
  void proj_backward(int l, int p, const T* x, const T* u, const T* dy, T* dx, int64_t N);
  // fn(n0, n1) over [0, n): ranges on the pool's threads in the fast path, else one call.
  void par_rows(int64_t n, const std::function<void(int64_t, int64_t)>& fn) const;
  // y += x, RMSNorm forward / backward: the reference's ops, on row (or column) ranges of the pool.
  void add_into(T* y, const T* x, int64_t n) const;
  void norm_fwd(T* y, T* rstd, const T* x, const T* w, int64_t N, int64_t C, float eps) const;
  void norm_bwd(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t N, int64_t C) const;
  // Cross-entropy of M rows of logits (M, V): the fast path (float) splits rows over the pool and
  // keeps each row's log-sum-exp for ce_bwd; the reference is ref::cross_entropy_*.
  double ce_fwd(const T* logits, const int32_t* targets, int64_t M, int64_t V, int64_t* n_valid, const T* weights);
  void ce_bwd(T* dlogits, const T* logits, const int32_t* targets, int64_t M, int64_t V, double scale, const T* weights);
  void lin_fwd(T* y, const T* x, const T* W, int64_t N, int64_t I, int64_t O);
  void lin_bwd(T* dx, T* dW, const T* dy, const T* x, const T* W, int64_t N, int64_t I, int64_t O);
  void dropout_apply(int l, int p, const T* x, T* out, int64_t n) const;

  LlamaConfig cfg_;
  ModelOptions opt_;
  ParamSet<T> base_, lora_;
  std::vector<T> grad_;
  std::vector<Nf4Tensor> nf4_;
  // parameter indices
  int embed_ = -1, final_norm_ = -1, head_ = -1;
  std::vector<int> attn_norm_, ffn_norm_;
  std::vector<std::array<int, kNumProj>> w_, lora_a_, lora_b_;  // -1 when absent
  // activations
  Arena acts_{"train-activations"};
  int B_ = 0, T_ = 0;
  int64_t cap_n_ = 0, cap_p_ = 0;  // activation buffers hold this many rows / attention probabilities
  std::vector<std::unique_ptr<LayerActs>> layer_acts_;  // L sets, or 1 when checkpointing
  std::unique_ptr<GradScratch> gs_;                      // backward buffers, sized with the activations
  T* x_in_ = nullptr;   // (L+1, N, C) residual stream at each layer boundary
  T* hf_ = nullptr;     // (N, C) final norm output
  T* rstdf_ = nullptr;  // (N)
  T* logits_ = nullptr; // (N, V), or (head_rows_.size(), V) of the loss rows alone
  T* h_loss_ = nullptr;  // (N, C) hf_ rows of the loss positions, gathered (keep_all_logits off)
  std::vector<int32_t> ids_, targets_;
  std::vector<int32_t> head_rows_, head_targets_;  // loss positions and their targets (keep_all_logits off)
  std::vector<T> head_weights_;                     // their loss weights (batch weights given)
  bool keep_all_logits_ = true;
  std::vector<T> cos_, sin_;
  int64_t n_valid_ = 0;
  std::vector<double> lse_;  // fast path: each loss row's log-sum-exp, from forward for backward
  uint64_t drop_seed_ = 0, drop_step_ = 0;
  bool training_ = true;
  mutable std::vector<T> wscratch_, wscratch2_;
};

}  // namespace si::train
