#include "model/random_model.h"

#include <cmath>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "ops/cpu/quants.h"
#include "ops/rope.h"

namespace si {
namespace {

// xorshift64*: fast enough to fill a 1B-parameter model in seconds (std::normal_distribution is not).
struct Rng {
  uint64_t s;
  float uniform() {  // [-1, 1)
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return float(int32_t(uint32_t((s * 0x2545F4914F6CDD1Dull) >> 32))) * (1.0f / 2147483648.0f);
  }
};

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

}  // namespace

DType llama_cpp_tensor_type(const std::string& type, const std::string& name, int layer, int n_layers) {
  const bool mix_m = type == "Q4_K_M" || type == "Q5_K_M";
  const DType base = type == "Q4_K_M" ? DType::Q4_K : type == "Q5_K_M" ? DType::Q5_K : [&] {
    const auto t = dtype_from_name(type);
    SI_CHECK(t && (*t == DType::F32 || *t == DType::F16 || *t == DType::BF16 || *t == DType::Q8_0 || *t == DType::Q4_0 ||
                   *t == DType::Q4_K || *t == DType::Q5_K || *t == DType::Q6_K),
             "unknown model type '{}' (known: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K Q4_K_M Q5_K_M)", type);
    return *t;
  }();
  const bool low_bits = base == DType::Q4_0 || base == DType::Q4_K || base == DType::Q5_K || base == DType::Q6_K;
  if ((name == "output.weight" || name == "token_embd.weight") && low_bits) return DType::Q6_K;
  if (mix_m && layer >= 0 && (name.find("attn_v") != std::string::npos || name.find("ffn_down") != std::string::npos) &&
      use_more_bits(layer, n_layers))
    return DType::Q6_K;
  return base;
}

void write_random_gguf(const LlamaConfig& cfg, const std::string& type, uint64_t seed, const std::string& path,
                       ThreadPool* pool) {
  cfg.validate("random model");
  GgufWriter out;
  out.set("general.architecture", GgufValue::of("llama"));
  out.set("general.type", GgufValue::of("model"));
  out.set("general.name", GgufValue::of(fmt::format("random {}", type)));
  out.set("llama.block_count", GgufValue::of(uint32_t(cfg.n_layers)));
  out.set("llama.context_length", GgufValue::of(uint32_t(cfg.max_position_embeddings)));
  out.set("llama.embedding_length", GgufValue::of(uint32_t(cfg.hidden_size)));
  out.set("llama.feed_forward_length", GgufValue::of(uint32_t(cfg.intermediate_size)));
  out.set("llama.attention.head_count", GgufValue::of(uint32_t(cfg.n_heads)));
  out.set("llama.attention.head_count_kv", GgufValue::of(uint32_t(cfg.n_kv_heads)));
  out.set("llama.rope.freq_base", GgufValue::of(cfg.rope_theta));
  out.set("llama.attention.layer_norm_rms_epsilon", GgufValue::of(cfg.rms_norm_eps));
  out.set("llama.attention.key_length", GgufValue::of(uint32_t(cfg.head_dim)));
  out.set("llama.attention.value_length", GgufValue::of(uint32_t(cfg.head_dim)));
  out.set("general.file_type", GgufValue::of(uint32_t(0)));
  out.set("llama.vocab_size", GgufValue::of(uint32_t(cfg.vocab_size)));
  out.set("llama.rope.dimension_count", GgufValue::of(uint32_t(cfg.head_dim)));
  if (cfg.bos_token_id >= 0) out.set("tokenizer.ggml.bos_token_id", GgufValue::of(uint32_t(cfg.bos_token_id)));
  if (cfg.eos_token_id >= 0) out.set("tokenizer.ggml.eos_token_id", GgufValue::of(uint32_t(cfg.eos_token_id)));
  out.set("general.quantization_version", GgufValue::of(uint32_t(2)));

  // rope_freqs.weight: divisor per frequency (what the converter writes for llama3 scaling).
  auto rope_freqs = std::make_shared<std::vector<float>>();
  if (cfg.rope_scaling.type == "llama3") {
    const auto plain = ops::rope_inv_freq(cfg.head_dim, cfg.rope_theta, RopeScaling{});
    const auto scaled = ops::rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling);
    for (size_t i = 0; i < plain.size(); ++i) rope_freqs->push_back(plain[i] / scaled[i]);
    out.add_tensor("rope_freqs.weight", DType::F32, {int64_t(rope_freqs->size())}, rope_freqs->data());
  }

  const int64_t C = cfg.hidden_size, V = cfg.vocab_size, F = cfg.intermediate_size;
  uint64_t tensor_seed = seed * 0x9E3779B97F4A7C15ull + 1;
  // A matrix (rows, cols) of `dt`: generated and quantized 64 rows at a time as the writer pulls it.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, DType dt) {
    const uint64_t s = ++tensor_seed;
    out.add_tensor(name, dt, {rows, cols}, [=](const GgufWriter::ByteSink& emit) {
      const int64_t chunk = 64;
      const size_t rb = dtype_row_bytes(dt, uint64_t(cols));
      std::vector<float> f(size_t(chunk * cols));
      std::vector<uint8_t> q(rb * size_t(chunk));
      Rng rng{s * 0x2545F4914F6CDD1Dull + 7};
      const float a = 0.02f * std::sqrt(3.0f);  // uniform [-a, a) has std 0.02
      for (int64_t r = 0; r < rows; r += chunk) {
        const int64_t n = std::min(chunk, rows - r);
        for (int64_t i = 0; i < n * cols; ++i) f[size_t(i)] = a * rng.uniform();
        cpu::quantize_rows(dt, f.data(), q.data(), n, cols, pool);
        emit(q.data(), rb * size_t(n));
      }
    });
  };
  auto norm = [&](const std::string& name) {
    const uint64_t s = ++tensor_seed;
    auto v = std::make_shared<std::vector<float>>(size_t(C));
    Rng rng{s};
    for (auto& x : *v) x = 1.0f + 0.1f * rng.uniform();
    out.add_tensor(name, DType::F32, {C}, [v](const GgufWriter::ByteSink& emit) { emit(v->data(), v->size() * 4); });
  };
  const int L = cfg.n_layers;
  auto ty = [&](const std::string& name, int layer) { return llama_cpp_tensor_type(type, name, layer, L); };
  matrix("token_embd.weight", V, C, ty("token_embd.weight", -1));
  if (!cfg.tie_word_embeddings) matrix("output.weight", V, C, ty("output.weight", -1));
  norm("output_norm.weight");
  for (int i = 0; i < L; ++i) {
    auto n = [&](const char* what) { return fmt::format("blk.{}.{}.weight", i, what); };
    norm(n("attn_norm"));
    matrix(n("attn_q"), cfg.q_dim(), C, ty(n("attn_q"), i));
    matrix(n("attn_k"), cfg.kv_dim(), C, ty(n("attn_k"), i));
    matrix(n("attn_v"), cfg.kv_dim(), C, ty(n("attn_v"), i));
    matrix(n("attn_output"), C, cfg.q_dim(), ty(n("attn_output"), i));
    norm(n("ffn_norm"));
    matrix(n("ffn_gate"), F, C, ty(n("ffn_gate"), i));
    matrix(n("ffn_up"), F, C, ty(n("ffn_up"), i));
    matrix(n("ffn_down"), C, F, ty(n("ffn_down"), i));
  }
  out.write(path);
}

void write_random_hf(const LlamaConfig& cfg, DType dtype, uint64_t seed, const std::string& dir,
                     const std::string& tokenizer) {
  namespace fs = std::filesystem;
  cfg.validate("random model");
  SI_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16,
           "random HF model: dtype {} is not F32, F16 or BF16", dtype_name(dtype));
  require_new_dir(dir);
  if (!tokenizer.empty() && !fs::is_regular_file(tokenizer))
    throw Error("no such tokenizer file").at(tokenizer).hint("pass a tokenizer.json");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  uint64_t tensor_seed = seed * 0x9E3779B97F4A7C15ull + 1;
  // (rows, cols) uniform with std 0.02, or (cols) norms near 1, converted 64K values at a time.
  auto add = [&](const std::string& name, Shape shape, bool norm) {
    const uint64_t s = ++tensor_seed;
    w.add(name, dtype, shape, [=](const SafetensorsWriter::ByteSink& emit) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      Rng rng{s * 0x2545F4914F6CDD1Dull + 7};
      const float a = 0.02f * std::sqrt(3.0f);
      std::vector<float> f(size_t(1) << 16);
      std::vector<uint16_t> h(f.size());
      for (int64_t k0 = 0; k0 < n; k0 += int64_t(f.size())) {
        const int64_t m = std::min(int64_t(f.size()), n - k0);
        for (int64_t i = 0; i < m; ++i) f[size_t(i)] = norm ? 1.0f + 0.1f * rng.uniform() : a * rng.uniform();
        if (dtype == DType::F32) {
          emit(f.data(), size_t(m) * 4);
          continue;
        }
        for (int64_t i = 0; i < m; ++i) h[size_t(i)] = dtype == DType::F16 ? f32_to_f16(f[size_t(i)]) : f32_to_bf16(f[size_t(i)]);
        emit(h.data(), size_t(m) * 2);
      }
    });
  };
  const int64_t C = cfg.hidden_size, F = cfg.intermediate_size;
  add("model.embed_tokens.weight", {cfg.vocab_size, C}, false);
  if (!cfg.tie_word_embeddings) add("lm_head.weight", {cfg.vocab_size, C}, false);
  add("model.norm.weight", {C}, true);
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    add(p + "input_layernorm.weight", {C}, true);
    add(p + "post_attention_layernorm.weight", {C}, true);
    add(p + "self_attn.q_proj.weight", {cfg.q_dim(), C}, false);
    add(p + "self_attn.k_proj.weight", {cfg.kv_dim(), C}, false);
    add(p + "self_attn.v_proj.weight", {cfg.kv_dim(), C}, false);
    add(p + "self_attn.o_proj.weight", {C, cfg.q_dim()}, false);
    add(p + "mlp.gate_proj.weight", {F, C}, false);
    add(p + "mlp.up_proj.weight", {F, C}, false);
    add(p + "mlp.down_proj.weight", {C, F}, false);
  }
  nlohmann::json config = llama_config_to_hf_json(cfg);
  config["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";

  write_dir_atomic(dir, [&](const fs::path& tmp) {
    w.write((tmp / "model.safetensors").string());
    write_file_atomic((tmp / "config.json").string(), config.dump(2) + "\n");
    if (!tokenizer.empty()) fs::copy_file(tokenizer, tmp / "tokenizer.json");
  });
}

}  // namespace si
