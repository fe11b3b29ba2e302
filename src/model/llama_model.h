// model/llama_model.h — a Llama-family model ready to run on the CPU: config + weights + storage.
//
//   si::LlamaModel m = si::LlamaModel::load("model-Q4_K_M.gguf");   // or an HF directory
//   m.config().n_layers; m.weights().layers[3].wq; m.weight_bytes();
//
// Weights stay where they are stored (the mmapped GGUF / safetensors files, or the arena of a
// model built in memory); the model only holds views. Running it: model/llama_runner.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/arena.h"
#include "formats/llama_config.h"
#include "model/llama_weights.h"
#include "ops/rope.h"

namespace si {

class LlamaModel {
 public:
  // An HF directory (config.json + *.safetensors), a GPTQ directory (its Linears dequantized to F16
  // at load, quant/gptq_checkpoint.h) or a .gguf file; throws si::Error naming the file and the
  // tensor on anything malformed or unsupported.
  static LlamaModel load(const std::string& path);
  // Builds from weights that live in `storage` (kept alive by the model).
  static LlamaModel from_weights(LlamaConfig cfg, LlamaWeights w, std::shared_ptr<void> storage, std::string source);

  const LlamaConfig& config() const { return cfg_; }
  const LlamaWeights& weights() const { return w_; }
  const std::string& source() const { return source_; }
  ops::RopePairing rope_pairing() const {
    return w_.rope_interleaved ? ops::RopePairing::Interleaved : ops::RopePairing::HalfSplit;
  }
  const std::vector<float>& rope_inv_freq() const { return inv_freq_; }
  uint64_t weight_bytes() const { return w_.bytes(); }
  std::string describe() const;  // one line: layers, sizes, types, bytes

 private:
  LlamaConfig cfg_;
  LlamaWeights w_;
  std::shared_ptr<void> storage_;  // GgufFile / SafetensorsModel / Arena holding the weights
  std::shared_ptr<Arena> small_;   // F32 copies of non-F32 norm weights
  std::vector<float> inv_freq_;    // (D/2) RoPE inverse frequencies, llama3 scaling applied
  std::string source_;
};

}  // namespace si
