// quant/gptq_model.h — `shopintent quantize --to gptq:BITS:GROUP[:act]`: GPTQ of a whole Llama model,
// layer by layer on calibration samples from our JSONL data, written as a GPTQ directory.
//
//   si::GptqModelOptions o;
//   o.model = "merged"; o.calib = "data-run/train.jsonl"; o.out = "merged-gptq";
//   o.gptq.bits = 4; o.gptq.group_size = 128;
//   si::GptqModelResult r = si::gptq_quantize_model(o);   // per-Linear errors in r.linears
//
// Sequential, as AutoGPTQ with true_sequential: the samples' hidden states enter layer 0; in each
// layer the Linears are quantized in four steps (k, v, q / o / up, gate / down), each on inputs
// computed with the Linears before it already quantized, and the layer's quantized output feeds the
// next layer. Activations are fp32 for all samples at once (N tokens x width); each Linear's
// H = 2/S X^T X is accumulated in fp64. Only the current layer's weights are held as fp32; the rest
// stays mapped. `gptq` gives the GPTQ settings; `rtn` rounds to nearest instead (same grid, same
// sequential pass) so both can be compared on the same data. The work runs on a GptqBackend
// (quant/gptq_backend.h): the CPU one unless `backend` makes another (the CLI's --device cuda).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "quant/gptq.h"
#include "quant/gptq_backend.h"

namespace si {

struct GptqModelOptions {
  std::string model;        // HF directory (F32 / F16 / BF16 safetensors)
  std::string calib;        // datagen JSONL (train or valid split)
  std::string out;          // new directory
  std::string task = "cart";
  std::string tokenizer;    // default: the model directory
  int samples = 128;
  int max_len = 512;        // longer rows are skipped
  GptqOptions gptq;
  GptqFormat format = GptqFormat::v1;
  bool rtn = false;
  int threads = 1;
  bool quiet = false;
  // Makes the backend the work runs on; empty: the CPU (make_gptq_backend_cpu with `threads`).
  std::function<std::unique_ptr<GptqBackend>(const LlamaConfig&, const CalibSet&)> backend;
};

// "gptq:4:128", "gptq:8:-1:act", "gptq:4:32:act:asym" -> bits, group_size, desc_act, sym (throws si::Error).
void gptq_parse_target(const std::string& to, GptqOptions& o);

struct GptqLinearReport {
  int layer = 0;
  std::string name;   // "self_attn.q_proj"
  double rel_err = 0; // ||WX - QX||^2 / ||WX||^2 on this Linear's calibration inputs
  double loss = 0;    // AutoGPTQ's "avg loss"
  double seconds = 0;
};

// Wall-clock and process CPU seconds (all threads) of one kind of work.
struct GptqStageTime {
  double wall = 0, cpu = 0;
};

// Where a run's time went: calibration rows tokenized and embedded; layer weights read as fp32;
// the forward pieces; Hessians; the per-Linear solve (of which `factor`: the Cholesky / inverse);
// packing codes; writing the directory.
struct GptqStages {
  GptqStageTime calib, load, forward, hessian, quantize, pack, write;
  double factor_wall = 0;
};

struct GptqModelResult {
  std::vector<GptqLinearReport> linears;
  int64_t samples = 0, tokens = 0;
  double seconds = 0;          // whole run
  double quantize_seconds = 0; // inside the per-Linear solve (stages.quantize.wall)
  uint64_t bytes_out = 0;      // model.safetensors
  GptqStages stages;
  uint64_t peak_rss_bytes = 0; // the process's high-water mark at the end
  std::string memory_note;     // the backend's (device memory), or ""
};

GptqModelResult gptq_quantize_model(const GptqModelOptions& o);

}  // namespace si
