#include "model/llama_weights.h"

#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "core/error.h"
#include "core/half.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

namespace si {
namespace {

// Looks a tensor up by name; returns a view or nullptr-data view when absent.
using Finder = std::function<const TensorView*(const std::string&)>;

struct Binder {
  const std::string& where;
  const Finder& find;
  Arena& small;

  const TensorView& need(const std::string& name) const {
    const TensorView* v = find(name);
    if (!v) throw Error(fmt::format("tensor '{}' is missing", name)).at(where).hint("is this a complete Llama model?");
    return *v;
  }

  TensorView matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const TensorView& v = need(name);
    const Shape want{rows, cols};
    if (v.shape != want)
      throw Error(fmt::format("tensor '{}' has shape {}, expected {} from the config", name, shape_str(v.shape),
                              shape_str(want))).at(where);
    if (!weight_type_supported(v.dtype))
      throw Error(fmt::format("tensor '{}' has type {}, which this engine does not run (supported: F32 F16 BF16 "
                              "Q8_0 Q4_0 Q4_K Q5_K Q6_K)", name, dtype_name(v.dtype))).at(where);
    if (cols % dtype_block_size(v.dtype) != 0)
      throw Error(fmt::format("tensor '{}' row length {} is not a multiple of the {} block size {}", name, cols,
                              dtype_name(v.dtype), dtype_block_size(v.dtype))).at(where);
    return v;
  }

  // 1-D weights as F32 copies in `small`, converted when stored as F16/BF16. Copied even when F32:
  // each forward pass reads them, and a read from the mapping maps the page cache's whole large folio
  // (2 MiB) into the process, around matrices whose pages the repacking has released (a Q4_0 1B
  // kept 52 MiB of its file resident that way). Copied here, before any repacking, they cost a few
  // pages once.
  TensorView vector(const std::string& name, int64_t n) const {
    const TensorView& v = need(name);
    if (v.shape != Shape{n})
      throw Error(fmt::format("tensor '{}' has shape {}, expected [{}]", name, shape_str(v.shape), n)).at(where);
    SI_CHECK(v.dtype == DType::F32 || v.dtype == DType::F16 || v.dtype == DType::BF16,
             "{}: tensor '{}' has type {}, expected F32, F16 or BF16", where, name, dtype_name(v.dtype));
    float* out = small.alloc<float>(size_t(n));
    if (v.dtype == DType::F32) {
      std::memcpy(out, v.data, size_t(n) * sizeof(float));
      return TensorView{out, DType::F32, {n}};
    }
    const auto* p = static_cast<const uint8_t*>(v.data);
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = v.dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    return TensorView{out, DType::F32, {n}};
  }
};

LlamaWeights bind(const Binder& b, const LlamaConfig& c, bool gguf) {
  const int64_t C = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  LlamaWeights w;
  w.rope_interleaved = gguf;
  const char* names_gguf[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
  const char* names_hf[] = {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                            "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj",
                            "mlp.down_proj"};
  const char** n = gguf ? names_gguf : names_hf;
  auto lname = [&](int i, int k) {
    return gguf ? fmt::format("blk.{}.{}.weight", i, n[k]) : fmt::format("model.layers.{}.{}.weight", i, n[k]);
  };
  w.tok_embd = b.matrix(gguf ? "token_embd.weight" : "model.embed_tokens.weight", V, C);
  w.output_norm = b.vector(gguf ? "output_norm.weight" : "model.norm.weight", C);
  const std::string out_name = gguf ? "output.weight" : "lm_head.weight";
  if (b.find(out_name)) w.output = b.matrix(out_name, V, C);
  else if (c.tie_word_embeddings || gguf) w.output = w.tok_embd;
  else throw Error(fmt::format("tensor '{}' is missing and tie_word_embeddings is false", out_name)).at(b.where);
  for (int i = 0; i < c.n_layers; ++i) {
    LlamaLayerWeights l;
    l.attn_norm = b.vector(lname(i, 0), C);
    l.wq = b.matrix(lname(i, 1), Q, C);
    l.wk = b.matrix(lname(i, 2), KV, C);
    l.wv = b.matrix(lname(i, 3), KV, C);
    l.wo = b.matrix(lname(i, 4), C, Q);
    l.ffn_norm = b.vector(lname(i, 5), C);
    l.w_gate = b.matrix(lname(i, 6), F, C);
    l.w_up = b.matrix(lname(i, 7), F, C);
    l.w_down = b.matrix(lname(i, 8), C, F);
    w.layers.push_back(std::move(l));
  }
  return w;
}

}  // namespace

bool weight_type_supported(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

uint64_t LlamaWeights::bytes() const {
  uint64_t s = tok_embd.bytes() + output_norm.bytes() + (output.data == tok_embd.data ? 0 : output.bytes());
  for (const auto& l : layers)
    for (const TensorView* v : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down})
      s += v->bytes();
  return s;
}

LlamaWeights bind_gguf_weights(const GgufFile& g, const LlamaConfig& cfg, Arena& small) {
  std::vector<TensorView> views(g.tensors().size());
  for (size_t i = 0; i < views.size(); ++i) views[i] = g.view(g.tensors()[i]);
  const Finder find = [&](const std::string& name) -> const TensorView* {
    const GgufTensorInfo* t = g.find_tensor(name);
    return t ? &views[size_t(t - g.tensors().data())] : nullptr;
  };
  LlamaWeights w = bind(Binder{g.path(), find, small}, cfg, true);
  if (const GgufTensorInfo* rf = g.find_tensor("rope_freqs.weight")) {
    const TensorView v = g.view(*rf);
    if (v.dtype != DType::F32 || v.numel() != cfg.head_dim / 2)
      throw Error(fmt::format("tensor 'rope_freqs.weight' is {} {}, expected F32 [{}]", dtype_name(v.dtype),
                              shape_str(v.shape), cfg.head_dim / 2)).at(g.path());
    w.rope_freq_factors.assign(v.as<float>(), v.as<float>() + v.numel());
  }
  return w;
}

LlamaWeights bind_hf_weights(const SafetensorsModel& st, const LlamaConfig& cfg, Arena& small) {
  const Finder find = [&](const std::string& name) -> const TensorView* {
    const SafetensorsTensor* t = st.find(name);
    return t ? &t->view : nullptr;
  };
  return bind(Binder{st.path(), find, small}, cfg, false);
}

LlamaWeights bind_hf_weights(const WeightFinder& find, const std::string& where, const LlamaConfig& cfg, Arena& small) {
  return bind(Binder{where, find, small}, cfg, false);
}

}  // namespace si
