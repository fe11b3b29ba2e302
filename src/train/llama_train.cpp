#include "train/llama_train.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <type_traits>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/cpu/ref_backward.h"
#include "train/cpu_fast.h"
#include "train/rng.h"

namespace si::train {

Method method_from_name(const std::string& s) {
  if (s == "full") return Method::full;
  if (s == "lora") return Method::lora;
  if (s == "qlora") return Method::qlora;
  fail("unknown training method '{}': use full, lora or qlora", s);
}

const char* method_name(Method m) { return m == Method::full ? "full" : m == Method::lora ? "lora" : "qlora"; }

const char* proj_name(int p) {
  static const char* n[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return n[p];
}
const char* proj_module(int p) {
  static const char* n[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                            "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  return n[p];
}

template <typename T> void rope_tables(const LlamaConfig& c, int64_t T_, std::vector<T>& cos, std::vector<T>& sin) {
  // HF _compute_default_rope_parameters / _compute_llama3_parameters, in float32 like torch.
  const int64_t D = c.head_dim, half = D / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; i++) inv[size_t(i)] = 1.0f / std::pow(c.rope_theta, float(2 * i) / float(D));
  if (c.rope_scaling.type == "llama3") {
    const auto& r = c.rope_scaling;
    const float old_len = float(r.original_max_position_embeddings);
    const float low_wavelen = float(double(r.original_max_position_embeddings) / double(r.low_freq_factor));
    const float high_wavelen = float(double(r.original_max_position_embeddings) / double(r.high_freq_factor));
    for (auto& f : inv) {
      const float wavelen = float(2.0 * M_PI) / f;
      float scaled = wavelen > low_wavelen ? f / r.factor : f;
      const float smooth = (old_len / wavelen - r.low_freq_factor) / float(double(r.high_freq_factor) - double(r.low_freq_factor));
      const float smoothed = (1.0f - smooth) * scaled / r.factor + smooth * scaled;
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      f = medium ? smoothed : scaled;
    }
  } else {
    SI_CHECK(c.rope_scaling.type == "none" || c.rope_scaling.type.empty() || c.rope_scaling.type == "default",
             "rope scaling '{}' is not supported by the trainer: use none or llama3", c.rope_scaling.type);
  }
  cos.resize(size_t(T_ * half));
  sin.resize(size_t(T_ * half));
  for (int64_t t = 0; t < T_; t++)
    for (int64_t i = 0; i < half; i++) {
      const float angle = float(t) * inv[size_t(i)];
      cos[size_t(t * half + i)] = T(std::cos(double(angle)));
      sin[size_t(t * half + i)] = T(std::sin(double(angle)));
    }
}

template <typename T> struct TrainModel<T>::LayerActs {
  T *h1, *rstd1, *q, *k, *v, *probs, *att, *x_mid, *h2, *rstd2, *gate, *up, *act;
  std::array<T*, kNumProj> u{};  // LoRA A outputs * scaling (N, r), null when not adapted
};

template <typename T> struct TrainModel<T>::GradScratch {
  T *dlogits, *dhf, *dx, *dh, *datt, *dq, *dk, *dv, *dact, *dgate, *dup, *x_tmp;
};

template <typename T> TrainModel<T>::TrainModel(const LlamaConfig& cfg, const ModelOptions& opt) : cfg_(cfg), opt_(opt) {
  SI_CHECK(cfg_.vocab_size > 0 && cfg_.hidden_size > 0 && cfg_.intermediate_size > 0 && cfg_.n_layers > 0 &&
               cfg_.n_heads > 0 && cfg_.n_kv_heads > 0 && cfg_.head_dim > 0 && cfg_.n_heads % cfg_.n_kv_heads == 0,
           "training model config: sizes must be positive and n_heads ({}) a multiple of n_kv_heads ({})", cfg_.n_heads,
           cfg_.n_kv_heads);
  if constexpr (!std::is_same_v<T, float>) {
    SI_CHECK(opt_.method != Method::qlora && !opt_.fast, "qlora and the fast path are float-only");
  }
  SI_CHECK(cfg_.head_dim % 2 == 0, "head_dim {} must be even for rotary embeddings", cfg_.head_dim);
  SI_CHECK(opt_.method == Method::full || opt_.lora.rank > 0, "LoRA rank must be positive, got {}", opt_.lora.rank);
  SI_CHECK(opt_.lora.dropout >= 0.0f && opt_.lora.dropout < 1.0f, "LoRA dropout {} outside [0, 1)", opt_.lora.dropout);
  build_tables();
}

template <typename T> TrainModel<T>::~TrainModel() = default;

template <typename T> Shape TrainModel<T>::proj_shape(int p) const {
  const int64_t C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size;
  switch (p) {
    case kQ: return {Q, C};
    case kK:
    case kV: return {KV, C};
    case kO: return {C, Q};
    case kGate:
    case kUp: return {F, C};
    default: return {C, F};
  }
}

template <typename T> void TrainModel<T>::build_tables() {
  const int L = cfg_.n_layers;
  const int64_t C = cfg_.hidden_size, V = cfg_.vocab_size;
  embed_ = base_.add("model.embed_tokens.weight", {V, C});
  attn_norm_.resize(size_t(L));
  ffn_norm_.resize(size_t(L));
  w_.resize(size_t(L));
  lora_a_.assign(size_t(L), {-1, -1, -1, -1, -1, -1, -1});
  lora_b_.assign(size_t(L), {-1, -1, -1, -1, -1, -1, -1});
  for (int l = 0; l < L; l++) {
    const std::string pre = fmt::format("model.layers.{}.", l);
    for (int p = 0; p < kNumProj; p++) w_[size_t(l)][size_t(p)] = base_.add(pre + proj_module(p) + ".weight", proj_shape(p));
    attn_norm_[size_t(l)] = base_.add(pre + "input_layernorm.weight", {C});
    ffn_norm_[size_t(l)] = base_.add(pre + "post_attention_layernorm.weight", {C});
  }
  final_norm_ = base_.add("model.norm.weight", {C});
  head_ = cfg_.tie_word_embeddings ? embed_ : base_.add("lm_head.weight", {V, C});
  base_.allocate();
  if (opt_.method != Method::full) {
    const int64_t r = opt_.lora.rank;
    for (int l = 0; l < L; l++)
      for (int p = 0; p < kNumProj; p++) {
        if (!opt_.lora.targets[size_t(p)]) continue;
        const Shape s = proj_shape(p);
        const std::string pre = fmt::format("base_model.model.model.layers.{}.{}.", l, proj_module(p));
        lora_a_[size_t(l)][size_t(p)] = lora_.add(pre + "lora_A.weight", {r, s[1]});
        lora_b_[size_t(l)][size_t(p)] = lora_.add(pre + "lora_B.weight", {s[0], r});
      }
    lora_.allocate();
  }
  grad_.assign(size_t(trainable().numel()), T(0));
}

template <typename T> void TrainModel<T>::init_random(uint64_t seed, float stddev) {
  Rng rng(seed);
  for (size_t i = 0; i < base_.entries.size(); i++) {
    const auto& e = base_.entries[i];
    T* p = base_.ptr(int(i));
    const bool norm = e.shape.size() == 1;
    for (int64_t j = 0; j < e.numel; j++) p[j] = norm ? T(1) : T(rng.normal() * stddev);
  }
}

template <typename T> void TrainModel<T>::init_adapters(uint64_t seed) {
  // peft LoraLayer.reset_lora_parameters("default", True): kaiming_uniform_(A, a=sqrt(5)) gives
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)); B = 0 so the adapted model starts equal to the base.
  Rng rng(seed);
  for (int l = 0; l < cfg_.n_layers; l++)
    for (int p = 0; p < kNumProj; p++) {
      const int a = lora_a_[size_t(l)][size_t(p)];
      if (a < 0) continue;
      const auto& e = lora_.entries[size_t(a)];
      const double bound = 1.0 / std::sqrt(double(e.shape[1]));
      T* A = lora_.ptr(a);
      for (int64_t j = 0; j < e.numel; j++) A[j] = T((2.0 * rng.uniform() - 1.0) * bound);
      T* Bm = lora_.ptr(lora_b_[size_t(l)][size_t(p)]);
      std::fill(Bm, Bm + lora_.entries[size_t(lora_b_[size_t(l)][size_t(p)])].numel, T(0));
    }
}

template <typename T> void TrainModel<T>::quantize_base() {
  SI_CHECK(opt_.method == Method::qlora, "quantize_base() is for the qlora method");
  SI_CHECK(nf4_.empty(), "base already quantized");
  if constexpr (std::is_same_v<T, float>) {
    const int L = cfg_.n_layers;
    nf4_.resize(size_t(L * kNumProj));
    ParamSet<T> kept;
    std::vector<int> remap(base_.entries.size(), -1);
    std::vector<bool> is_linear(base_.entries.size(), false);
    for (int l = 0; l < L; l++)
      for (int p = 0; p < kNumProj; p++) {
        const int i = w_[size_t(l)][size_t(p)];
        nf4_[size_t(l * kNumProj + p)] = nf4_quantize(base_.ptr(i), base_.entries[size_t(i)].numel);
        is_linear[size_t(i)] = true;
      }
    for (size_t i = 0; i < base_.entries.size(); i++)
      if (!is_linear[i]) remap[i] = kept.add(base_.entries[i].name, base_.entries[i].shape);
    kept.allocate();
    for (size_t i = 0; i < base_.entries.size(); i++)
      if (remap[i] >= 0) std::memcpy(kept.ptr(remap[i]), base_.ptr(int(i)), sizeof(T) * size_t(base_.entries[i].numel));
    base_ = std::move(kept);
    embed_ = remap[size_t(embed_)];
    head_ = remap[size_t(head_)];
    final_norm_ = remap[size_t(final_norm_)];
    for (int l = 0; l < L; l++) {
      attn_norm_[size_t(l)] = remap[size_t(attn_norm_[size_t(l)])];
      ffn_norm_[size_t(l)] = remap[size_t(ffn_norm_[size_t(l)])];
      for (int p = 0; p < kNumProj; p++) w_[size_t(l)][size_t(p)] = -1;
    }
  }
}

template <typename T> const T* TrainModel<T>::base_weight(int l, int p, std::vector<T>& scratch) const {
  const int i = w_[size_t(l)][size_t(p)];
  if (i >= 0) return base_.ptr(i);
  if constexpr (std::is_same_v<T, float>) {
    const Nf4Tensor& q = nf4_[size_t(l * kNumProj + p)];
    scratch.resize(size_t(q.numel));
    nf4_dequantize(q, scratch.data());
    return scratch.data();
  } else {
    fail("no base weight for layer {} {}", l, proj_name(p));
  }
}

template <typename T> void TrainModel<T>::zero_grad() { std::fill(grad_.begin(), grad_.end(), T(0)); }

template <typename T> void TrainModel<T>::lin_fwd(T* y, const T* x, const T* W, int64_t N, int64_t I, int64_t O) {
  if constexpr (std::is_same_v<T, float>) {
    if (opt_.fast) return fast::linear_forward(opt_.pool, y, x, W, N, I, O);
  }
  ref::linear_forward(y, x, W, N, I, O);
}

template <typename T>
void TrainModel<T>::lin_bwd(T* dx, T* dW, const T* dy, const T* x, const T* W, int64_t N, int64_t I, int64_t O) {
  if constexpr (std::is_same_v<T, float>) {
    if (opt_.fast) return fast::linear_backward(opt_.pool, dx, dW, dy, x, W, N, I, O);
  }
  ref::linear_backward(dx, dW, dy, x, W, N, I, O);
}

template <typename T> void TrainModel<T>::par_rows(int64_t n, const std::function<void(int64_t, int64_t)>& fn) const {
  fast::split(opt_.fast ? opt_.pool : nullptr, n, fn);
}

template <typename T> void TrainModel<T>::add_into(T* y, const T* x, int64_t n) const {
  par_rows(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) y[i] += x[i];
  });
}

template <typename T>
void TrainModel<T>::norm_fwd(T* y, T* rstd, const T* x, const T* w, int64_t N, int64_t C, float eps) const {
  par_rows(N, [&](int64_t n0, int64_t n1) { ref::rmsnorm_forward(y + n0 * C, rstd + n0, x + n0 * C, w, n1 - n0, C, eps); });
}

template <typename T>
void TrainModel<T>::norm_bwd(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t N,
                             int64_t C) const {
  par_rows(N, [&](int64_t n0, int64_t n1) {
    ref::rmsnorm_backward(dx + n0 * C, static_cast<T*>(nullptr), dy + n0 * C, x + n0 * C, w, rstd + n0, n1 - n0, C);
  });
  if (!dw) return;
  // dw sums over rows: split the columns instead, each summed over n in order as the reference does.
  par_rows(C, [&](int64_t c0, int64_t c1) {
    for (int64_t n = 0; n < N; n++)
      for (int64_t c = c0; c < c1; c++) dw[c] += T(double(dy[n * C + c]) * double(x[n * C + c]) * double(rstd[n]));
  });
}

template <typename T>
double TrainModel<T>::ce_fwd(const T* logits, const int32_t* targets, int64_t M, int64_t V, int64_t* n_valid,
                             const T* weights) {
  if constexpr (std::is_same_v<T, float>) {
    if (opt_.fast) {
      lse_.resize(size_t(M));
      return fast::cross_entropy_forward(opt_.pool, logits, targets, M, V, weights, lse_.data(), n_valid);
    }
  }
  return ref::cross_entropy_forward(logits, targets, M, V, n_valid, weights);
}

template <typename T>
void TrainModel<T>::ce_bwd(T* dlogits, const T* logits, const int32_t* targets, int64_t M, int64_t V, double scale,
                           const T* weights) {
  if constexpr (std::is_same_v<T, float>) {
    if (opt_.fast) {
      SI_CHECK(int64_t(lse_.size()) == M, "backward: {} loss rows, the forward pass had {}", M, lse_.size());
      return fast::cross_entropy_backward(opt_.pool, dlogits, logits, lse_.data(), targets, M, V, scale, weights);
    }
  }
  ref::cross_entropy_backward(dlogits, logits, targets, M, V, scale, weights);
}

template <typename T> void TrainModel<T>::dropout_apply(int l, int p, const T* x, T* out, int64_t n) const {
  // Inverted dropout (torch.nn.Dropout): keep with probability 1-p, scale kept values by 1/(1-p).
  const double pr = opt_.lora.dropout;
  const T keep_scale = T(1.0 / (1.0 - pr));
  const uint64_t key = mix64(drop_seed_ ^ mix64(drop_step_ * 0x100000001b3ULL + uint64_t(l) * 16 + uint64_t(p)));
  for (int64_t i = 0; i < n; i++) out[i] = unit_from_bits(mix64(key + uint64_t(i))) < pr ? T(0) : x[i] * keep_scale;
}

template <typename T> void TrainModel<T>::proj_forward(int l, int p, const T* x, T* y, T* u, int64_t N) {
  const Shape s = proj_shape(p);
  const int64_t O = s[0], I = s[1];
  lin_fwd(y, x, base_weight(l, p, wscratch_), N, I, O);
  const int a = lora_a_[size_t(l)][size_t(p)];
  if (a < 0) return;
  // y += scaling * (dropout(x) A^T) B^T  (peft Linear.forward); u keeps scaling * dropout(x) A^T
  const int64_t r = opt_.lora.rank;
  const T* xd = x;
  if (opt_.lora.dropout > 0.0f && training_) {
    wscratch2_.resize(size_t(N * I));
    dropout_apply(l, p, x, wscratch2_.data(), N * I);
    xd = wscratch2_.data();
  }
  lin_fwd(u, xd, lora_.ptr(a), N, I, r);
  const T sc = T(opt_.lora.scaling());
  for (int64_t i = 0; i < N * r; i++) u[i] *= sc;
  std::vector<T> t(size_t(N * O));
  lin_fwd(t.data(), u, lora_.ptr(lora_b_[size_t(l)][size_t(p)]), N, r, O);
  for (int64_t i = 0; i < N * O; i++) y[i] += t[size_t(i)];
}

template <typename T> void TrainModel<T>::proj_backward(int l, int p, const T* x, const T* u, const T* dy, T* dx, int64_t N) {
  const Shape s = proj_shape(p);
  const int64_t O = s[0], I = s[1];
  const bool full = opt_.method == Method::full;
  T* gW = full ? grad_.data() + base_.entries[size_t(w_[size_t(l)][size_t(p)])].offset : nullptr;
  if (dx || gW) lin_bwd(dx, gW, dy, x, base_weight(l, p, wscratch_), N, I, O);
  const int a = lora_a_[size_t(l)][size_t(p)];
  if (a < 0) return;
  const int b = lora_b_[size_t(l)][size_t(p)];
  const int64_t r = opt_.lora.rank;
  T* gA = grad_.data() + lora_.entries[size_t(a)].offset;
  T* gB = grad_.data() + lora_.entries[size_t(b)].offset;
  // dB += dy^T u ; du = scaling * dy B
  std::vector<T> du(size_t(N * r), T(0));
  lin_bwd(du.data(), gB, dy, u, lora_.ptr(b), N, r, O);
  const T sc = T(opt_.lora.scaling());
  for (auto& v : du) v *= sc;
  // dA += du^T dropout(x) ; dx += dropout'(du A)
  const bool drop = opt_.lora.dropout > 0.0f && training_;
  const T* xd = x;
  if (drop) {
    wscratch2_.resize(size_t(N * I));
    dropout_apply(l, p, x, wscratch2_.data(), N * I);
    xd = wscratch2_.data();
  }
  if (!dx) return lin_bwd(nullptr, gA, du.data(), xd, lora_.ptr(a), N, I, r);
  if (!drop) return lin_bwd(dx, gA, du.data(), xd, lora_.ptr(a), N, I, r);
  std::vector<T> dxd(size_t(N * I), T(0)), ones(size_t(N * I), T(1)), mask(size_t(N * I));
  lin_bwd(dxd.data(), gA, du.data(), xd, lora_.ptr(a), N, I, r);
  dropout_apply(l, p, ones.data(), mask.data(), N * I);  // 0 or 1/(1-p) per element
  for (int64_t i = 0; i < N * I; i++) dx[i] += dxd[size_t(i)] * mask[size_t(i)];
}

template <typename T> void TrainModel<T>::alloc_acts(int B, int Tn) {
  // Buffers are sized for the largest batch seen so far and reused (length-bucketed batches change
  // shape every step; re-allocating would cost page faults each time). Smaller batches use prefixes.
  const int64_t H = cfg_.n_heads;
  B_ = B;
  T_ = Tn;
  const int64_t need_n = int64_t(B) * Tn, need_p = int64_t(B) * H * Tn * Tn;
  if (!layer_acts_.empty() && need_n <= cap_n_ && need_p <= cap_p_) return;
  cap_n_ = std::max(cap_n_, need_n);
  cap_p_ = std::max(cap_p_, need_p);
  acts_.reset();
  layer_acts_.clear();
  const int64_t N = cap_n_, C = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size,
                V = cfg_.vocab_size, L = cfg_.n_layers;
  auto al = [&](int64_t n) { return acts_.alloc<T>(size_t(n)); };
  x_in_ = al((L + 1) * N * C);  // (L+1, N, C)
  hf_ = al(N * C);
  rstdf_ = al(N);
  logits_ = al(N * V);
  h_loss_ = al(N * C);
  const int n_sets = opt_.checkpoint_activations ? 1 : int(L);
  for (int i = 0; i < n_sets; i++) {
    auto a = std::make_unique<LayerActs>();
    a->h1 = al(N * C), a->rstd1 = al(N), a->q = al(N * Q), a->k = al(N * KV), a->v = al(N * KV);
    a->probs = al(cap_p_), a->att = al(N * Q), a->x_mid = al(N * C), a->h2 = al(N * C);
    a->rstd2 = al(N), a->gate = al(N * F), a->up = al(N * F), a->act = al(N * F);
    for (int p = 0; p < kNumProj; p++) a->u[size_t(p)] = opt_.lora.targets[size_t(p)] && opt_.method != Method::full ? al(N * opt_.lora.rank) : nullptr;
    layer_acts_.push_back(std::move(a));
  }
  gs_ = std::make_unique<GradScratch>();
  auto& g = *gs_;
  g.dlogits = al(N * V), g.dhf = al(N * C), g.dx = al(N * C), g.dh = al(N * C), g.datt = al(N * Q), g.dq = al(N * Q);
  g.dk = al(N * KV), g.dv = al(N * KV), g.dact = al(N * F), g.dgate = al(N * F), g.dup = al(N * F), g.x_tmp = al(N * C);
}

template <typename T> void TrainModel<T>::layer_forward(int l, const T* x_in, LayerActs& a, T* x_out) {
  const int64_t N = int64_t(B_) * T_, C = cfg_.hidden_size, H = cfg_.n_heads, KV = cfg_.n_kv_heads, D = cfg_.head_dim,
                F = cfg_.intermediate_size;
  const float eps = cfg_.rms_norm_eps;
  norm_fwd(a.h1, a.rstd1, x_in, base_.ptr(attn_norm_[size_t(l)]), N, C, eps);
  proj_forward(l, kQ, a.h1, a.q, a.u[kQ], N);
  proj_forward(l, kK, a.h1, a.k, a.u[kK], N);
  proj_forward(l, kV, a.h1, a.v, a.u[kV], N);
  ref::rope_forward(a.q, cos_.data(), sin_.data(), int64_t(B_), int64_t(T_), H, D);
  ref::rope_forward(a.k, cos_.data(), sin_.data(), int64_t(B_), int64_t(T_), KV, D);
  bool done = false;
  if constexpr (std::is_same_v<T, float>) {
    if (opt_.fast) fast::attention_forward(opt_.pool, a.att, a.probs, a.q, a.k, a.v, B_, T_, H, KV, D), done = true;
  }
  if (!done) ref::attention_forward(a.att, a.probs, a.q, a.k, a.v, int64_t(B_), int64_t(T_), H, KV, D);
  proj_forward(l, kO, a.att, a.x_mid, a.u[kO], N);
  add_into(a.x_mid, x_in, N * C);  // residual
  norm_fwd(a.h2, a.rstd2, a.x_mid, base_.ptr(ffn_norm_[size_t(l)]), N, C, eps);
  proj_forward(l, kGate, a.h2, a.gate, a.u[kGate], N);
  proj_forward(l, kUp, a.h2, a.up, a.u[kUp], N);
  // SwiGLU is elementwise: row ranges on the pool give the reference's values exactly.
  par_rows(N, [&](int64_t n0, int64_t n1) {
    ref::swiglu_forward(a.act + n0 * F, a.gate + n0 * F, a.up + n0 * F, n1 - n0, F);
  });
  proj_forward(l, kDown, a.act, x_out, a.u[kDown], N);
  add_into(x_out, a.x_mid, N * C);
}

template <typename T> void TrainModel<T>::layer_backward(int l, const T* x_in, LayerActs& a, T* dx) {
  const int64_t N = int64_t(B_) * T_, C = cfg_.hidden_size, H = cfg_.n_heads, KV = cfg_.n_kv_heads, D = cfg_.head_dim,
                F = cfg_.intermediate_size, Q = cfg_.q_dim();
  auto& g = *gs_;
  const bool full = opt_.method == Method::full;
  auto gnorm = [&](int idx) { return full ? grad_.data() + base_.entries[size_t(idx)].offset : nullptr; };
  auto zero = [](T* p, int64_t n) { std::fill(p, p + n, T(0)); };
  // MLP: x_out = x_mid + down(silu(gate(h2)) * up(h2))
  zero(g.dact, N * F);
  proj_backward(l, kDown, a.act, a.u[kDown], dx, g.dact, N);
  zero(g.dgate, N * F);
  zero(g.dup, N * F);
  par_rows(N, [&](int64_t n0, int64_t n1) {
    ref::swiglu_backward(g.dgate + n0 * F, g.dup + n0 * F, g.dact + n0 * F, a.gate + n0 * F, a.up + n0 * F, n1 - n0, F);
  });
  zero(g.dh, N * C);
  proj_backward(l, kGate, a.h2, a.u[kGate], g.dgate, g.dh, N);
  proj_backward(l, kUp, a.h2, a.u[kUp], g.dup, g.dh, N);
  norm_bwd(dx, gnorm(ffn_norm_[size_t(l)]), g.dh, a.x_mid, base_.ptr(ffn_norm_[size_t(l)]), a.rstd2, N, C);
  // attention: x_mid = x_in + o(attn(rope(q(h1)), rope(k(h1)), v(h1)))
  zero(g.datt, N * Q);
  proj_backward(l, kO, a.att, a.u[kO], dx, g.datt, N);
  zero(g.dq, N * Q);
  zero(g.dk, N * KV * D);
  zero(g.dv, N * KV * D);
  bool done = false;
  if constexpr (std::is_same_v<T, float>) {
    if (opt_.fast)
      fast::attention_backward(opt_.pool, g.dq, g.dk, g.dv, g.datt, a.probs, a.q, a.k, a.v, B_, T_, H, KV, D), done = true;
  }
  if (!done) ref::attention_backward(g.dq, g.dk, g.dv, g.datt, a.probs, a.q, a.k, a.v, int64_t(B_), int64_t(T_), H, KV, D);
  ref::rope_backward(g.dq, cos_.data(), sin_.data(), int64_t(B_), int64_t(T_), H, D);
  ref::rope_backward(g.dk, cos_.data(), sin_.data(), int64_t(B_), int64_t(T_), KV, D);
  zero(g.dh, N * C);
  proj_backward(l, kQ, a.h1, a.u[kQ], g.dq, g.dh, N);
  proj_backward(l, kK, a.h1, a.u[kK], g.dk, g.dh, N);
  proj_backward(l, kV, a.h1, a.u[kV], g.dv, g.dh, N);
  norm_bwd(dx, gnorm(attn_norm_[size_t(l)]), g.dh, x_in, base_.ptr(attn_norm_[size_t(l)]), a.rstd1, N, C);
}

template <typename T> double TrainModel<T>::forward(const Batch& batch) {
  SI_CHECK(batch.B > 0 && batch.T > 0, "empty batch ({} x {})", batch.B, batch.T);
  const int64_t N = int64_t(batch.B) * batch.T, C = cfg_.hidden_size, V = cfg_.vocab_size;
  SI_CHECK(int64_t(batch.ids.size()) == N && int64_t(batch.targets.size()) == N,
           "batch of {} x {} needs {} ids and targets, got {} and {}", batch.B, batch.T, N, batch.ids.size(), batch.targets.size());
  for (int64_t i = 0; i < N; i++) {
    SI_CHECK(batch.ids[size_t(i)] >= 0 && batch.ids[size_t(i)] < V, "token id {} at batch position {} outside the vocabulary of {}",
             batch.ids[size_t(i)], i, V);
    SI_CHECK(batch.targets[size_t(i)] < V, "target id {} at batch position {} outside the vocabulary of {}", batch.targets[size_t(i)], i, V);
  }
  const bool weighted = !batch.weights.empty();
  SI_CHECK(!weighted || (int64_t(batch.weights.size()) == N && batch.n_answer > 0 && !keep_all_logits_),
           "weighted batch: {} weights for {} positions, {} answer tokens; weights need keep_all_logits(false)",
           batch.weights.size(), N, batch.n_answer);
  alloc_acts(batch.B, batch.T);
  ids_ = batch.ids;
  targets_ = batch.targets;
  if (int64_t(cos_.size()) != int64_t(T_) * (cfg_.head_dim / 2)) rope_tables<T>(cfg_, T_, cos_, sin_);
  ref::embedding_forward(x_in_, ids_.data(), base_.ptr(embed_), N, C);
  for (int l = 0; l < cfg_.n_layers; l++) {
    LayerActs& a = *layer_acts_[opt_.checkpoint_activations ? 0 : size_t(l)];
    layer_forward(l, x_in_ + int64_t(l) * N * C, a, x_in_ + int64_t(l + 1) * N * C);
  }
  norm_fwd(hf_, rstdf_, x_in_ + int64_t(cfg_.n_layers) * N * C, base_.ptr(final_norm_), N, C, cfg_.rms_norm_eps);
  if (keep_all_logits_) {
    lin_fwd(logits_, hf_, base_.ptr(head_), N, C, V);
    return ce_fwd(logits_, targets_.data(), N, V, &n_valid_, nullptr);
  }
  // The head on the loss rows only: gather them, (M, C) -> (M, V).
  head_rows_.clear();
  head_targets_.clear();
  head_weights_.clear();
  for (int64_t i = 0; i < N; i++)
    if (targets_[size_t(i)] >= 0 && (!weighted || batch.weights[size_t(i)] > 0)) {
      std::copy(hf_ + i * C, hf_ + (i + 1) * C, h_loss_ + int64_t(head_rows_.size()) * C);
      head_rows_.push_back(int32_t(i));
      head_targets_.push_back(targets_[size_t(i)]);
      if (weighted) head_weights_.push_back(T(batch.weights[size_t(i)]));
    }
  const int64_t M = int64_t(head_rows_.size());
  if (M == 0) {
    n_valid_ = 0;
    return 0.0;
  }
  lin_fwd(logits_, h_loss_, base_.ptr(head_), M, C, V);
  if (!weighted) return ce_fwd(logits_, head_targets_.data(), M, V, &n_valid_, nullptr);
  // The weighted sum over the M loss rows, normalised by the answer tokens.
  const double mean = ce_fwd(logits_, head_targets_.data(), M, V, nullptr, head_weights_.data());
  n_valid_ = batch.n_answer;
  return mean * double(M) / double(n_valid_);
}

template <typename T> void TrainModel<T>::backward(double loss_scale) {
  SI_CHECK(!layer_acts_.empty(), "backward() before forward()");
  if (n_valid_ == 0) return;  // nothing to learn from this batch
  const int64_t N = int64_t(B_) * T_, C = cfg_.hidden_size, V = cfg_.vocab_size;
  const int L = cfg_.n_layers;
  const bool full = opt_.method == Method::full;
  auto& g = *gs_;
  auto gp = [&](int idx) { return full ? grad_.data() + base_.entries[size_t(idx)].offset : nullptr; };
  std::fill(g.dhf, g.dhf + N * C, T(0));
  if (keep_all_logits_) {
    ce_bwd(g.dlogits, logits_, targets_.data(), N, V, loss_scale / double(n_valid_), nullptr);
    lin_bwd(g.dhf, gp(head_), g.dlogits, hf_, base_.ptr(head_), N, C, V);  // tied: head grad lands in embed
  } else {
    // Loss rows only: d h_loss (M, C), scattered back to their positions in dhf (zero elsewhere).
    const int64_t M = int64_t(head_rows_.size());
    ce_bwd(g.dlogits, logits_, head_targets_.data(), M, V, loss_scale / double(n_valid_),
           head_weights_.empty() ? nullptr : head_weights_.data());
    std::fill(g.x_tmp, g.x_tmp + M * C, T(0));
    lin_bwd(g.x_tmp, gp(head_), g.dlogits, h_loss_, base_.ptr(head_), M, C, V);
    for (int64_t r = 0; r < M; r++)
      std::copy(g.x_tmp + r * C, g.x_tmp + (r + 1) * C, g.dhf + int64_t(head_rows_[size_t(r)]) * C);
  }
  std::fill(g.dx, g.dx + N * C, T(0));
  norm_bwd(g.dx, gp(final_norm_), g.dhf, x_in_ + int64_t(L) * N * C, base_.ptr(final_norm_), rstdf_, N, C);
  for (int l = L - 1; l >= 0; l--) {
    LayerActs& a = *layer_acts_[opt_.checkpoint_activations ? 0 : size_t(l)];
    const T* x_in = x_in_ + int64_t(l) * N * C;
    if (opt_.checkpoint_activations) layer_forward(l, x_in, a, g.x_tmp);  // recompute this layer's activations
    layer_backward(l, x_in, a, g.dx);
  }
  if (full) ref::embedding_backward(gp(embed_), g.dx, ids_.data(), N, C);
}

template class TrainModel<float>;
template class TrainModel<double>;
template void rope_tables<float>(const LlamaConfig&, int64_t, std::vector<float>&, std::vector<float>&);
template void rope_tables<double>(const LlamaConfig&, int64_t, std::vector<double>&, std::vector<double>&);

}  // namespace si::train
