// tests/model/gptq_fixture.h — a small random Llama written as an HF directory (F32 safetensors) and
// as a GPTQ directory by our writer (quant/gptq_checkpoint.h), quantized in-test:
//
//   test::GptqFixture f(test::temp_dir(), llama_config_preset("tiny"), test::GptqFixture::Method::rtn);
//   LlamaModel cpu = LlamaModel::load(f.gptq.string());                          // dequantized to F16
//   LlamaModel raw = LlamaModel::load(f.gptq.string(), {.gptq_dequantize = false});  // packed only
//
// rtn: round-to-nearest (quant/gptq.h's rtn_quantize), natural input order. gptq_act: GPTQ with
// act-order on a Hessian of random inputs whose columns have different scales, a different one for
// each Linear, so every Linear gets its own input permutation (g_idx). 4-bit, group 128, "gptq" v1.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/llama_config.h"
#include "formats/safetensors.h"
#include "quant/gptq.h"
#include "quant/gptq_checkpoint.h"

namespace si::test {

struct GptqFixture {
  enum class Method { rtn, gptq_act };
  std::filesystem::path base, gptq;
  GptqQuantConfig q;

  GptqFixture(const std::filesystem::path& tmp, const LlamaConfig& cfg, Method method, uint32_t seed = 3)
      : base(tmp / "base"), gptq(tmp / "gptq") {
    namespace fs = std::filesystem;
    q.bits = 4;
    q.group_size = 128;
    q.desc_act = method == Method::gptq_act;
    // The HF model: normal weights (std 0.05), norms near 1.
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.05f);
    std::map<std::string, std::vector<float>> t;
    std::map<std::string, Shape> shape;
    auto add = [&](const std::string& name, Shape s, bool norm) {
      int64_t n = 1;
      for (int64_t x : s) n *= x;
      std::vector<float> v(static_cast<size_t>(n));
      for (float& x : v) x = norm ? 1.0f + d(rng) : d(rng);
      t[name] = std::move(v);
      shape[name] = std::move(s);
    };
    const int64_t C = cfg.hidden_size, F = cfg.intermediate_size, Q = cfg.q_dim(), KV = cfg.kv_dim();
    add("model.embed_tokens.weight", {cfg.vocab_size, C}, false);
    add("model.norm.weight", {C}, true);
    if (!cfg.tie_word_embeddings) add("lm_head.weight", {cfg.vocab_size, C}, false);
    const Shape lin[kGptqLinears] = {{Q, C}, {KV, C}, {KV, C}, {C, Q}, {F, C}, {F, C}, {C, F}};
    for (int l = 0; l < cfg.n_layers; ++l) {
      add(fmt::format("model.layers.{}.input_layernorm.weight", l), {C}, true);
      add(fmt::format("model.layers.{}.post_attention_layernorm.weight", l), {C}, true);
      for (int p = 0; p < kGptqLinears; ++p) add(gptq_linear_prefix(l, p) + ".weight", lin[p], false);
    }
    fs::create_directories(base);
    std::ofstream(base / "config.json") << llama_config_to_hf_json(cfg).dump(2);
    SafetensorsWriter w;
    for (const auto& [name, v] : t) w.add(name, DType::F32, shape.at(name), v.data());
    w.write((base / "model.safetensors").string());
    // The GPTQ directory.
    std::map<std::string, GptqPacked> linears;
    for (int l = 0; l < cfg.n_layers; ++l)
      for (int p = 0; p < kGptqLinears; ++p) {
        const std::string prefix = gptq_linear_prefix(l, p);
        const Shape& s = lin[p];
        GptqOptions o;
        o.bits = q.bits;
        o.group_size = q.group_size;
        o.desc_act = q.desc_act;
        o.measure = false;
        const std::vector<float>& wt = t.at(prefix + ".weight");
        GptqResult r;
        if (method == Method::rtn) {
          r = rtn_quantize(wt.data(), s[0], s[1], o);
        } else {
          std::mt19937 xr(uint32_t(seed * 100 + l * 10 + p));
          std::normal_distribution<float> xd(0.0f, 1.0f);
          std::vector<float> x(static_cast<size_t>(64 * s[1]));
          for (size_t k = 0; k < x.size(); ++k) x[k] = xd(xr) * float(1 + ((k % size_t(s[1])) * 7 + size_t(p)) % 5);
          GptqHessian h(s[1]);
          h.add(x.data(), 64, 4);
          r = gptq_quantize(wt.data(), s[0], s[1], h, o);
        }
        linears[prefix] = gptq_pack(r.codes, q.format);
      }
    write_gptq_dir(gptq.string(), base.string(), SafetensorsModel::open(base.string()), q, linears);
  }
};

}  // namespace si::test
