// model/llama_model.h — a Llama-family model ready to run on the CPU: config + weights + storage.
//
//   si::LlamaModel m = si::LlamaModel::load("model-Q4_K_M.gguf");   // or an HF directory
//   m.config().n_layers; m.weights().layers[3].wq; m.weight_bytes();
//
// Weights stay where they are stored (the mmapped GGUF / safetensors files, or the arena of a
// model built in memory); the model only holds views. Running it: model/llama_runner.h.
// Loading a GGUF repacks its Q8_0 / Q4_0 / Q6_K matrices into the CPU kernels' 16-row interleaved layout
// (ops/packed_weight.h) and drops the file pages it read, so memory stays near the file size; the
// views stay valid (embedding rows, selected-row logits and the reference path read the file).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/arena.h"
#include "formats/llama_config.h"
#include "model/llama_weights.h"
#include "ops/packed_weight.h"
#include "ops/rope.h"

namespace si {

class GptqModelWeights;

struct LoadOptions {
  bool repack = true;  // GGUF matrices of ops::PackedWeight's types packed (false: run them as stored)
  // GPTQ directories: dequantize the Linears to F16 for the CPU engine. false keeps only the packed
  // tensors (gptq()), for the CUDA runner's 4-bit kernels: no F16 copy in RAM, but weights()' Linear
  // views then have no data and the CPU runner refuses the model.
  bool gptq_dequantize = true;
};

class LlamaModel {
 public:
  // An HF directory (config.json + *.safetensors), a GPTQ directory (its Linears dequantized to F16
  // at load unless opt says otherwise, quant/gptq_checkpoint.h) or a .gguf file; throws si::Error naming the file and the
  // tensor on anything malformed or unsupported.
  static LlamaModel load(const std::string& path, const LoadOptions& opt = {});
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
  // The repacked copy of matrix `w` (one of weights()' views), or nullptr when it runs as stored.
  const ops::PackedWeight* packed(const TensorView& w) const;
  // A GPTQ directory's packed Linears as stored (quant/gptq_checkpoint.h), or nullptr for other models.
  const GptqModelWeights* gptq() const { return gptq_.get(); }
  // True when the Linears exist only packed (LoadOptions::gptq_dequantize = false).
  bool linears_packed_only() const;

 private:
  LlamaConfig cfg_;
  LlamaWeights w_;
  std::shared_ptr<void> storage_;  // GgufFile / SafetensorsModel / Arena holding the weights
  std::shared_ptr<Arena> small_;   // F32 copies of non-F32 norm weights
  std::vector<float> inv_freq_;    // (D/2) RoPE inverse frequencies, llama3 scaling applied
  std::string source_;
  std::map<const void*, ops::PackedWeight> packed_;  // by the view's data pointer
  std::shared_ptr<const GptqModelWeights> gptq_;

  void repack(bool release_source);
};

}  // namespace si
