// quant/gptq_checkpoint.h — GPTQ model directories as AutoGPTQ / GPTQModel / transformers write them:
// config.json with quantization_config, quantize_config.json, model.safetensors with qweight / qzeros /
// scales / g_idx for every quantized Linear and fp16 for everything else, tokenizer files.
//
//   // reading (LlamaModel::load does this when config.json says quant_method "gptq")
//   if (auto q = si::gptq_config_of_dir("model-gptq")) {
//     auto g = si::GptqModelWeights::load("model-gptq", cfg, *q);   // linears dequantized to F16
//     const si::TensorView* wq = g->find("model.layers.0.self_attn.q_proj.weight");
//   }
//   // writing (shopintent quantize --to gptq:4:128)
//   si::write_gptq_dir("out", "model", src, q, linears);   // atomically: a temp dir, then rename
//
// The field-by-field description, with the sources each convention was checked against, is in
// docs/formats.md.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/arena.h"
#include "core/tensor.h"
#include "formats/llama_config.h"
#include "formats/safetensors.h"
#include "quant/gptq_pack.h"

namespace si {

struct GptqQuantConfig {
  int bits = 4;
  int group_size = 128;
  bool desc_act = false;
  bool sym = true;
  double damp_percent = 0.01;
  bool true_sequential = true;
  GptqFormat format = GptqFormat::v1;

  nlohmann::json quantize_config_json() const;  // quantize_config.json (AutoGPTQ's BaseQuantizeConfig.to_dict)
  nlohmann::json hf_json() const;               // config.json "quantization_config" (transformers' GPTQConfig)
  // From either spelling; throws si::Error naming `where` on unsupported values (bits 2/3, marlin, ...).
  static GptqQuantConfig from_json(const nlohmann::json& j, const std::string& where);
};

// The GPTQ settings of a model directory: config.json's quantization_config when its quant_method
// is "gptq", else quantize_config.json when present; nullopt for a plain (unquantized) directory.
std::optional<GptqQuantConfig> gptq_config_of_dir(const std::string& dir);

// The HF module names of the seven quantized Linears of layer `layer`, in AutoGPTQ's order of
// quantization (true_sequential groups: k, v, q / o / up, gate / down).
std::string gptq_linear_prefix(int layer, int proj);  // "model.layers.3.self_attn.q_proj"; proj 0..6 = q k v o gate up down
inline constexpr int kGptqLinears = 7;

// A GPTQ directory opened for the CPU engine: the quantized Linears dequantized at load into an arena
// (F16 or F32), every other tensor read in place from the mapped safetensors. The packed tensors
// stay readable in place too (linear()), for engines that run them as stored (the CUDA runner).
class GptqModelWeights {
 public:
  // Validates every quantized tensor against the config (dtype, shape, g_idx range) and throws one
  // line naming the tensor and what was expected. Logs the memory the dequantized weights take.
  // With dequantize = false nothing is dequantized: find() then returns views without data (shape
  // and dtype only) for the Linears' "<prefix>.weight", and only linear() serves their values.
  static std::shared_ptr<GptqModelWeights> load(const std::string& dir, const LlamaConfig& cfg, const GptqQuantConfig& q,
                                                DType dense = DType::F16, bool quiet = false, bool dequantize = true);
  // "<prefix>.weight" of a quantized Linear (dequantized), else the stored tensor; nullptr if absent.
  const TensorView* find(const std::string& name) const;
  // The packed tensors of Linear `proj` (0..6, gptq_linear_prefix's order) of layer `layer`, as stored.
  const GptqView& linear(int layer, int proj) const;
  const GptqQuantConfig& quant() const { return q_; }
  bool dequantized() const { return dequantized_; }
  uint64_t dense_bytes() const { return arena_.bytes_used(); }  // RAM of the dequantized weights
  uint64_t packed_bytes() const { return packed_bytes_; }       // qweight + qzeros + scales + g_idx on disk

 private:
  GptqModelWeights() : arena_("gptq-dequantized") {}
  SafetensorsModel st_;
  Arena arena_;
  std::map<std::string, TensorView> dense_;
  std::vector<GptqView> linears_;  // (layers * kGptqLinears)
  GptqQuantConfig q_;
  bool dequantized_ = true;
  uint64_t packed_bytes_ = 0;
};

// Writes out_dir: config.json (src config + quantization_config, torch_dtype float16),
// quantize_config.json, model.safetensors (`linears` by module prefix as qweight/qzeros/scales/g_idx;
// every other tensor of `src` as F16) and the tokenizer files of src_dir. out_dir must not exist or
// be empty; it appears complete or not at all.
void write_gptq_dir(const std::string& out_dir, const std::string& src_dir, const SafetensorsModel& src,
                    const GptqQuantConfig& q, const std::map<std::string, GptqPacked>& linears);

}  // namespace si
