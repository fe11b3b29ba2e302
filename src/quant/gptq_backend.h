// quant/gptq_backend.h — where sequential GPTQ of a Llama model does its work: the activations of
// all calibration tokens, the current layer's weights, the Hessians and the per-Linear solve.
// quant/gptq_model.cpp walks the layers and the four steps of each; a backend runs the steps on
// the CPU (gptq_backend_cpu.cpp, the fp32/fp64 reference) or on a GPU (quant/cuda/).
//
//   std::unique_ptr<si::GptqBackend> b = si::make_gptq_backend_cpu(cfg, cs, threads);
//   b->embed(table);                                  // x = embedding rows of the samples' tokens
//   b->load_layer(weights);                           // host fp32 weights of one decoder layer
//   b->attention_inputs(); b->hessian(GptqAct::xn);   // xn = attn_norm(x); H = 2/S xn^T xn
//   GptqResult r = b->quantize(kGptqK, opts, rtn);    // codes + errors; k_proj becomes Q in the backend
//   b->attention(); ...                               // later steps read the quantized weights
//
// The steps and their order are AutoGPTQ's true_sequential: (k, v, q) on attn_norm(x), o on the
// attention output, (up, gate) on ffn_norm(x), down on the SwiGLU. A backend keeps the dequantized
// weights it quantized for the rest of the layer's forward pass: results carry codes, not weights.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/big_vector.h"
#include "core/tensor.h"
#include "formats/llama_config.h"
#include "quant/gptq.h"
#include "quant/gptq_calib.h"

namespace si {

// The seven Linears of a decoder layer, in gptq_linear_prefix's order.
enum GptqProj { kGptqQ, kGptqK, kGptqV, kGptqO, kGptqGate, kGptqUp, kGptqDown };

// Activation buffers, each (N tokens, width): x residual (C), xn normed (C), q and att (H*D),
// k and v (KVH*D), gate the SwiGLU output (F).
enum class GptqAct { x, xn, q, k, v, att, gate };

// One decoder layer's weights as host fp32: w[p] (out, in) row-major for GptqProj p.
struct GptqLayerWeights {
  big_vector<float> w[7];
  big_vector<float> attn_norm, ffn_norm;  // (C)
};

class GptqBackend {
 public:
  virtual ~GptqBackend() = default;
  virtual void embed(const TensorView& table) = 0;       // x (N, C) = table rows (any stored float type)
  virtual void load_layer(GptqLayerWeights&& w) = 0;
  // The layer's forward pass in the four pieces between quantization steps:
  virtual void attention_inputs() = 0;   // xn = attn_norm(x)
  virtual void attention() = 0;          // q, k, v = xn W^T; RoPE; att = causal attention per sample
  virtual void attention_output() = 0;   // x += att W_o^T; xn = ffn_norm(x)
  virtual void mlp() = 0;                // gate = silu(xn W_gate^T) * (xn W_up^T)
  virtual void mlp_output() = 0;         // x += gate W_down^T
  // H = 2/S a^T a over the N rows of activation `a`, for the quantize() calls that follow.
  virtual void hessian(GptqAct a) = 0;
  // GPTQ (or round-to-nearest with `rtn`) of Linear p on the current H; the backend's copy of the
  // weight becomes the dequantized Q. The result's `w` is left empty.
  virtual GptqResult quantize(GptqProj p, const GptqOptions& o, bool rtn) = 0;
  // A copy of activation `a` (N, width) on the host: tests compare backends step by step.
  virtual std::vector<float> activation(GptqAct a) = 0;
  // What the backend's memory is: host activations, or device buffers and device use.
  virtual std::string memory_note() const { return ""; }
};

// The CPU reference: fp32 activations, matmuls on ops/cpu/sgemm, fp64 Hessians (GptqHessian), gptq_quantize.
std::unique_ptr<GptqBackend> make_gptq_backend_cpu(const LlamaConfig& cfg, const CalibSet& cs, int threads);

}  // namespace si
