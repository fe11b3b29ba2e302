// train/hf_io.h — the trainer's files in the layouts other tools use: Hugging Face model directories
// (config.json + model.safetensors) and peft adapters (adapter_config.json + adapter_model.safetensors).
//
//   si::train::load_base_weights(model, "models/llama");            // F32/F16/BF16 -> fp32
//   si::train::save_peft_adapter(model, "runs/r1", "models/llama");  // peft key names, fp32
//   si::train::PeftAdapter a = si::train::load_peft_adapter("runs/r1");
//   si::train::save_hf_model(cfg, tensors, "out", si::DType::BF16);  // what transformers loads
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "train/llama_train.h"

namespace si {
class SafetensorsModel;
}

namespace si::train {

// Copies every base tensor the model expects from an HF safetensors model (dir or file), converting
// F16/BF16 to fp32; errors name the missing tensor or the wrong shape.
void load_base_weights(TrainModel<float>& m, const SafetensorsModel& st);
void load_base_weights(TrainModel<float>& m, const std::string& dir);

// A tensor as fp32, whatever its stored dtype (F32, F16, BF16); throws for anything else.
std::vector<float> tensor_to_f32(const TensorView& v, const std::string& name, const std::string& path);

struct PeftAdapter {
  LoraConfig lora;
  std::string base_model;                               // base_model_name_or_path
  std::map<std::string, std::vector<float>> tensors;    // peft names -> fp32 values
  std::map<std::string, Shape> shapes;
};

// Writes dir/adapter_config.json and dir/adapter_model.safetensors (atomically, file by file).
void save_peft_adapter(const TrainModel<float>& m, const std::string& dir, const std::string& base_model);
PeftAdapter load_peft_adapter(const std::string& dir);
// Copies an adapter's tensors into m.adapters(); the model must have the adapter's rank and targets.
void apply_peft_adapter(TrainModel<float>& m, const PeftAdapter& a, const std::string& where);

// Writes an HF model directory: config.json (transformers' keys, torch_dtype set) and
// model.safetensors with every tensor converted to `dtype` (F32, F16 or BF16).
struct NamedTensor {
  std::string name;
  Shape shape;
  std::vector<float> data;
};
void save_hf_model(const LlamaConfig& cfg, const std::vector<NamedTensor>& tensors, const std::string& dir, DType dtype);

// What a finished run leaves in dir: the adapter in peft's layout (lora, qlora) or the whole model
// as an HF directory in fp32 (full), plus shopintent_train.json {"method", "base", ...extra}.
void save_run_output(const TrainModel<float>& m, const std::string& dir, const std::string& base_model,
                     const std::map<std::string, std::string>& extra = {});

}  // namespace si::train
