// quant/gguf_quantize.h — `shopintent quantize --to gguf:<TYPE>`: a Hugging Face Llama checkpoint
// or an F32/F16/BF16 GGUF in, a GGUF file out that llama.cpp reads, with llama.cpp's tensor names,
// metadata, per-tensor types (quant/gguf_types.h) and reference-quantized blocks, byte for byte.
//
//   si::GgufQuantizeOptions o;
//   o.model = "models/llama-3.2-1b";  o.to = "Q4_K_M";  o.out = "llama-Q4_K_M.gguf";  o.threads = 2;
//   si::GgufQuantizeResult r = si::gguf_quantize(o);   // atomic write; throws si::Error on bad input
//
// From HF safetensors it does what convert_hf_to_gguf.py (then llama-quantize for the _M mixes)
// does: tensors in the converter's order (rope_freqs first, then sorted HF names, Q/K rows permuted),
// metadata in the converter's order. From a GGUF it does what llama-quantize does: metadata copied
// (general.file_type moved to the end), tensors in llama.cpp's order (non-layer tensors, then layer
// by layer, each group by name).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace si {

struct GgufQuantizeOptions {
  std::string model;  // HF directory (config.json + *.safetensors + tokenizer.json) or a .gguf
  std::string to;     // F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K ("gguf:" prefix allowed)
  std::string out;    // output .gguf
  std::string name;   // general.name for HF input; default: the model directory's name
  int threads = 1;
  bool quiet = false; // no progress line
};

struct GgufQuantizeResult {
  int64_t n_tensors = 0;
  uint64_t bytes_in = 0;    // tensor bytes read
  uint64_t bytes_out = 0;   // size of the file written
  std::map<std::string, int> tensors_per_type;  // "Q4_K" -> count
  double seconds = 0;
};

GgufQuantizeResult gguf_quantize(const GgufQuantizeOptions& options);

}  // namespace si
