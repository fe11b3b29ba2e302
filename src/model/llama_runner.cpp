#include "model/llama_runner.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/matmul.h"
#include "ops/packed_weight.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"

namespace si {
namespace {

TensorView f32(std::vector<float>& v, Shape s) { return TensorView{v.data(), DType::F32, std::move(s)}; }

}  // namespace

LlamaRunner::LlamaRunner(const LlamaModel& model, RunnerOptions opt)
    : model_(model), opt_(opt), pool_(opt.reference ? 1 : opt.n_threads), kv_(model.config(), opt.n_slots, opt.capacity) {
  SI_CHECK(!model.linears_packed_only(), "CPU runner: {} was loaded with its GPTQ Linears kept packed (for the CUDA "
           "runner); load it with LoadOptions::gptq_dequantize = true to run it on the CPU", model.source());
}

void LlamaRunner::ensure(int64_t T) {
  const auto& c = model_.config();
  auto grow = [&](std::vector<float>& v, int64_t n) { if (int64_t(v.size()) < n) v.resize(size_t(n)); };
  grow(x_, T * c.hidden_size);
  grow(xn_, T * c.hidden_size);
  grow(tmp_, T * c.hidden_size);
  grow(q_, T * c.q_dim());
  grow(att_, T * c.q_dim());
  grow(k_, T * c.kv_dim());
  grow(v_, T * c.kv_dim());
  grow(gate_, T * c.intermediate_size);
  grow(up_, T * c.intermediate_size);
}

size_t LlamaRunner::activation_bytes() const {
  return sizeof(float) * (x_.size() + xn_.size() + tmp_.size() + q_.size() + att_.size() + k_.size() + v_.size() +
                          gate_.size() + up_.size());
}

void LlamaRunner::forward(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                          std::span<const int32_t> pos, std::span<const int32_t> out_rows, float* hidden) {
  const LlamaConfig& c = model_.config();
  const LlamaWeights& w = model_.weights();
  const int64_t T = int64_t(tokens.size());
  SI_CHECK(T > 0, "forward: empty batch");
  SI_CHECK(int64_t(slots.size()) == T && int64_t(pos.size()) == T, "forward: {} tokens but {} slots and {} positions",
           T, slots.size(), pos.size());
  for (int64_t t = 0; t < T; ++t)
    SI_CHECK(pos[size_t(t)] >= 0 && pos[size_t(t)] < kv_.capacity() && slots[size_t(t)] >= 0 &&
                 slots[size_t(t)] < kv_.n_slots(),
             "forward: token {} at slot {} position {} outside the cache ({} slots of {} positions)", t,
             slots[size_t(t)], pos[size_t(t)], kv_.n_slots(), kv_.capacity());
  const bool ref = opt_.reference;
  const int64_t C = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), F = c.intermediate_size;
  const int64_t H = c.n_heads, KVH = c.n_kv_heads, D = c.head_dim;
  ensure(T);
  TensorView x = f32(x_, {T, C}), xn = f32(xn_, {T, C}), tmp = f32(tmp_, {T, C});
  TensorView q = f32(q_, {T, Q}), k = f32(k_, {T, KV}), v = f32(v_, {T, KV}), att = f32(att_, {T, Q});
  TensorView q3 = f32(q_, {T, H, D}), k3 = f32(k_, {T, KVH, D}), att3 = f32(att_, {T, H, D});
  TensorView gate = f32(gate_, {T, F}), up = f32(up_, {T, F});
  auto matmul = [&](const TensorView& a, const TensorView& wt, const TensorView& y) {
    if (ref) ops::matmul_ref(a, wt, y);
    else if (const ops::PackedWeight* p = model_.packed(wt)) ops::matmul(a, *p, y, pool_);
    else ops::matmul(a, wt, y, pool_);
  };
  auto norm = [&](const TensorView& a, const TensorView& wt, const TensorView& y) {
    ref ? ops::rms_norm_ref(a, wt, c.rms_norm_eps, y) : ops::rms_norm(a, wt, c.rms_norm_eps, y, pool_);
  };
  auto add = [&](const TensorView& a, const TensorView& r) { ref ? ops::add_ref(a, r) : ops::add(a, r, pool_); };

  if (ref) ops::embedding_ref(w.tok_embd, tokens, x);
  else if (const ops::PackedWeight* p = model_.packed(w.tok_embd)) ops::embedding(*p, tokens, x, pool_);  // tied
  else ops::embedding(w.tok_embd, tokens, x, pool_);
  const ops::RopeTable rope = ops::rope_table(pos, model_.rope_inv_freq());
  const ops::RopePairing pairing = model_.rope_pairing();
  std::vector<ops::AttnSource> src(static_cast<size_t>(T));

  for (int l = 0; l < c.n_layers; ++l) {
    const LlamaLayerWeights& lw = w.layers[size_t(l)];
    norm(x, lw.attn_norm, xn);
    matmul(xn, lw.wq, q);
    matmul(xn, lw.wk, k);
    matmul(xn, lw.wv, v);
    if (ref) {
      ops::rope_apply_ref(q3, rope, pairing);
      ops::rope_apply_ref(k3, rope, pairing);
    } else {
      ops::rope_apply(q3, rope, pairing, pool_);
      ops::rope_apply(k3, rope, pairing, pool_);
    }
    // Store this batch's keys/values first: tokens of one sequence attend to each other.
    for (int64_t t = 0; t < T; ++t) {
      float* kc = kv_.k(l, slots[size_t(t)]);
      float* vc = kv_.v(l, slots[size_t(t)]);
      for (int64_t h = 0; h < KVH; ++h) {
        const size_t off = size_t((h * kv_.capacity() + pos[size_t(t)]) * D);
        std::memcpy(kc + off, k_.data() + (t * KVH + h) * D, size_t(D) * sizeof(float));
        std::memcpy(vc + off, v_.data() + (t * KVH + h) * D, size_t(D) * sizeof(float));
      }
      src[size_t(t)] = kv_.source(l, slots[size_t(t)]);
    }
    ref ? ops::attention_ref(q3, att3, int(KVH), src, pos) : ops::attention(q3, att3, int(KVH), src, pos, pool_);
    matmul(att, lw.wo, tmp);
    add(x, tmp);
    norm(x, lw.ffn_norm, xn);
    matmul(xn, lw.w_gate, gate);
    matmul(xn, lw.w_up, up);
    ref ? ops::swiglu_ref(gate, up, gate) : ops::swiglu(gate, up, gate, pool_);
    matmul(gate, lw.w_down, tmp);
    add(x, tmp);
  }
  for (int64_t t = 0; t < T; ++t) {
    const int s = slots[size_t(t)];
    kv_.set_length(s, std::max(kv_.length(s), pos[size_t(t)] + 1));
  }
  if (out_rows.empty() || !hidden) return;
  const int64_t n = int64_t(out_rows.size());
  for (int64_t i = 0; i < n; ++i) {
    SI_CHECK(out_rows[size_t(i)] >= 0 && out_rows[size_t(i)] < T, "forward: output row {} outside the batch of {}",
             out_rows[size_t(i)], T);
    std::memcpy(tmp_.data() + i * C, x_.data() + out_rows[size_t(i)] * C, size_t(C) * sizeof(float));
  }
  TensorView sel{tmp_.data(), DType::F32, {n, C}}, out{hidden, DType::F32, {n, C}};
  norm(sel, w.output_norm, out);
}

void LlamaRunner::append(std::span<const Append> batch, float* hidden) {
  std::vector<int32_t> tokens, slots, pos, out_rows;
  for (const Append& a : batch) {
    SI_CHECK(a.n_tokens >= 1, "append: slot {} gets {} tokens, need at least 1", a.slot, a.n_tokens);
    const int start = kv_.length(a.slot);
    SI_CHECK(start + a.n_tokens <= kv_.capacity(), "append: slot {} holds {} tokens, {} more exceed its capacity {}",
             a.slot, start, a.n_tokens, kv_.capacity());
    for (int i = 0; i < a.n_tokens; ++i) {
      tokens.push_back(a.tokens[i]);
      slots.push_back(a.slot);
      pos.push_back(start + i);
    }
    out_rows.push_back(int32_t(tokens.size()) - 1);
  }
  forward(tokens, slots, pos, hidden ? std::span<const int32_t>(out_rows) : std::span<const int32_t>(), hidden);
}

void LlamaRunner::logits(const float* hidden, int64_t n, std::span<const int32_t> rows, float* out) {
  const LlamaConfig& c = model_.config();
  const int64_t R = rows.empty() ? c.vocab_size : int64_t(rows.size());
  TensorView h{const_cast<float*>(hidden), DType::F32, {n, c.hidden_size}}, y{out, DType::F32, {n, R}};
  const TensorView& w = model_.weights().output;
  const ops::PackedWeight* p = model_.packed(w);
  if (opt_.reference) ops::matmul_ref(h, w, y, rows);
  else if (p != nullptr && rows.empty()) ops::matmul(h, *p, y, pool_);
  else ops::matmul(h, w, y, pool_, rows);  // selected rows: a few rows of the file, as stored
}

std::vector<float> LlamaRunner::eval(int slot, std::span<const int32_t> ids) {
  const LlamaConfig& c = model_.config();
  const int64_t T = int64_t(ids.size());
  const int start = kv_.length(slot);
  SI_CHECK(start + T <= kv_.capacity(), "eval: slot {} holds {} tokens, {} more exceed its capacity {}", slot, start, T,
           kv_.capacity());
  std::vector<int32_t> slots(static_cast<size_t>(T), slot), pos(static_cast<size_t>(T)), rows(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    pos[size_t(t)] = int32_t(start + t);
    rows[size_t(t)] = int32_t(t);
  }
  std::vector<float> hidden(size_t(T * c.hidden_size)), out(size_t(T) * size_t(c.vocab_size));
  forward(ids, slots, pos, rows, hidden.data());
  logits(hidden.data(), T, {}, out.data());
  return out;
}

int LlamaRunner::decode_greedy(int slot, int32_t token) {
  const std::vector<float> l = eval(slot, std::span<const int32_t>(&token, 1));
  return int(std::max_element(l.begin(), l.end()) - l.begin());
}

}  // namespace si
