// train/merge.h — fold a LoRA adapter into its base: W' = W + (alpha / r) * B A, written as a Hugging
// Face safetensors directory (f16, bf16 or f32) that transformers and `shopintent` load as a plain model.
//
//   si::train::MergeOptions o{.base = "models/llama", .adapter = "runs/r1", .out = "models/merged"};
//   si::train::MergeReport r = si::train::merge_adapter(o);
//
// QLoRA adapters were trained on the NF4-dequantized base, so by default they are merged onto that
// (the function that was trained); `onto = original` merges onto the 16-bit base instead, which
// differs from the trained function by the NF4 error of the base (~9% relative RMS per weight, see
// MergeReport::nf4_rel_rms). LoRA adapters are always merged onto the original base.
#pragma once

#include <string>

#include "core/dtype.h"

namespace si::train {

enum class MergeOnto { automatic, nf4, original };

struct MergeOptions {
  std::string base;      // HF model directory (config.json + safetensors)
  std::string adapter;   // peft adapter directory (a LoRA/QLoRA run)
  std::string out;       // new directory; must not exist or be empty
  DType dtype = DType::BF16;
  MergeOnto onto = MergeOnto::automatic;  // automatic: nf4 for qlora runs, original otherwise
};

struct MergeReport {
  bool onto_nf4 = false;
  int merged_tensors = 0;
  double nf4_rel_rms = 0;  // RMS(W_nf4 - W) / RMS(W) over adapted weights, when merged onto nf4
};

MergeReport merge_adapter(const MergeOptions& o);

// The run's training method as recorded in <run>/shopintent_train.json ("full", "lora", "qlora"), or
// "" when the file is absent (an adapter made by peft itself).
std::string run_method(const std::string& run_dir);

}  // namespace si::train
