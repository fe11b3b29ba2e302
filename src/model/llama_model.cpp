#include "model/llama_model.h"

#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quant/gptq_checkpoint.h"

namespace si {

LlamaModel LlamaModel::from_weights(LlamaConfig cfg, LlamaWeights w, std::shared_ptr<void> storage,
                                    std::string source) {
  LlamaModel m;
  m.cfg_ = std::move(cfg);
  m.w_ = std::move(w);
  m.storage_ = std::move(storage);
  m.source_ = std::move(source);
  m.small_ = std::make_shared<Arena>("norms", 1 << 16);
  if (!m.w_.rope_freq_factors.empty())
    m.inv_freq_ = ops::rope_inv_freq(m.cfg_.head_dim, m.cfg_.rope_theta, m.w_.rope_freq_factors);
  else
    m.inv_freq_ = ops::rope_inv_freq(m.cfg_.head_dim, m.cfg_.rope_theta, m.cfg_.rope_scaling);
  return m;
}

LlamaModel LlamaModel::load(const std::string& path, const LoadOptions& opt) {
  namespace fs = std::filesystem;
  auto small = std::make_shared<Arena>("norms", 1 << 16);
  if (fs::is_directory(path)) {
    const std::string cfg_path = (fs::path(path) / "config.json").string();
    if (!fs::exists(cfg_path))
      throw Error("no config.json: not a Hugging Face model directory").at(path).hint("pass an HF directory or a .gguf file");
    LlamaConfig cfg = llama_config_from_hf_file(cfg_path);
    cfg.validate(cfg_path);
    if (const auto q = gptq_config_of_dir(path)) {  // GPTQ: Linears dequantized to F16 at load unless asked
      auto g = GptqModelWeights::load(path, cfg, *q, DType::F16, false, opt.gptq_dequantize);
      LlamaWeights w = bind_hf_weights([&](const std::string& n) { return g->find(n); }, path, cfg, *small);
      LlamaModel m = from_weights(cfg, std::move(w), g, path);
      m.small_ = small;
      m.gptq_ = g;
      return m;
    }
    auto st = std::make_shared<SafetensorsModel>(SafetensorsModel::open(path));
    LlamaWeights w = bind_hf_weights(*st, cfg, *small);
    LlamaModel m = from_weights(cfg, std::move(w), st, path);
    m.small_ = small;
    return m;
  }
  if (!fs::exists(path)) throw Error("no such file or directory").at(path);
  auto g = std::make_shared<GgufFile>(GgufFile::open(path));
  LlamaConfig cfg = llama_config_from_gguf(*g);
  cfg.validate(path);
  LlamaWeights w = bind_gguf_weights(*g, cfg, *small);
  LlamaModel m = from_weights(cfg, std::move(w), g, path);
  m.small_ = small;
  if (opt.repack) m.repack(/*release_source=*/true);  // the GGUF is a read-only mapping
  return m;
}

void LlamaModel::repack(bool release_source) {
  std::vector<const TensorView*> mats = {&w_.output};
  for (const auto& l : w_.layers)
    for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) mats.push_back(v);
  ThreadPool pool(ThreadPool::default_threads());
  for (const TensorView* v : mats)
    if (ops::PackedWeight::supports(v->dtype) && !packed_.count(v->data))
      packed_.emplace(v->data, ops::PackedWeight::pack(*v, &pool, release_source));
}

bool LlamaModel::linears_packed_only() const { return gptq_ && !gptq_->dequantized(); }

const ops::PackedWeight* LlamaModel::packed(const TensorView& w) const {
  const auto it = packed_.find(w.data);
  return it == packed_.end() ? nullptr : &it->second;
}

std::string LlamaModel::describe() const {
  std::map<std::string, int> types;
  for (const auto& l : w_.layers)
    for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) types[std::string(dtype_name(v->dtype))]++;
  std::string ts;
  for (const auto& [k, n] : types) ts += fmt::format("{}{}x{}", ts.empty() ? "" : " ", n, k);
  return fmt::format("llama: {} layers, C={} F={} heads {}/{} D={} V={}, {} tied={}, embd {} output {}, layers [{}], "
                     "{:.1f} MiB", cfg_.n_layers, cfg_.hidden_size, cfg_.intermediate_size, cfg_.n_heads,
                     cfg_.n_kv_heads, cfg_.head_dim, cfg_.vocab_size,
                     w_.rope_interleaved ? "rope interleaved" : "rope half-split",
                     w_.output.data == w_.tok_embd.data, dtype_name(w_.tok_embd.dtype), dtype_name(w_.output.dtype),
                     ts, double(weight_bytes()) / 1048576.0) +
         (packed_.empty() ? "" : fmt::format(", {} matrices repacked for the CPU (16-row groups)", packed_.size())) +
         (linears_packed_only() ? fmt::format(", Linears kept as GPTQ {}-bit (packed {:.1f} MiB)", gptq_->quant().bits,
                                              double(gptq_->packed_bytes()) / 1048576.0)
                                : "");
}

}  // namespace si
