#include "train/hf_io.h"

#include <filesystem>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "core/mmap.h"
#include "formats/llama_config.h"
#include "formats/safetensors.h"

namespace si::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<float> tensor_to_f32(const TensorView& v, const std::string& name, const std::string& path) {
  const int64_t n = v.numel();
  std::vector<float> out(static_cast<size_t>(n));
  switch (v.dtype) {
    case DType::F32:
      std::memcpy(out.data(), v.data, size_t(n) * 4);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; i++) out[size_t(i)] = f16_to_f32(v.as<uint16_t>()[i]);
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; i++) out[size_t(i)] = bf16_to_f32(v.as<uint16_t>()[i]);
      break;
    default:
      throw Error(fmt::format("tensor {} is {}; the trainer reads F32, F16 or BF16", name, dtype_name(v.dtype)))
          .at(path)
          .hint("convert the model to a 16- or 32-bit safetensors checkpoint");
  }
  return out;
}

static void copy_checked(float* dst, const Shape& want, const SafetensorsTensor& t, const std::string& path) {
  if (t.shape != want)
    throw Error(fmt::format("tensor {} has shape {}, the config needs {}", t.name, shape_str(t.shape), shape_str(want))).at(path);
  const auto v = tensor_to_f32(t.view, t.name, path);
  std::memcpy(dst, v.data(), v.size() * 4);
}

void load_base_weights(TrainModel<float>& m, const SafetensorsModel& st) {
  auto& base = m.base();
  for (size_t i = 0; i < base.entries.size(); i++) {
    const auto& e = base.entries[i];
    const SafetensorsTensor* t = st.find(e.name);
    if (!t) throw Error(fmt::format("missing tensor {}", e.name)).at(st.path()).hint("is this a Llama-family checkpoint?");
    copy_checked(base.ptr(int(i)), e.shape, *t, st.path());
  }
}

void load_base_weights(TrainModel<float>& m, const std::string& dir) { load_base_weights(m, SafetensorsModel::open(dir)); }

void save_peft_adapter(const TrainModel<float>& m, const std::string& dir, const std::string& base_model) {
  SI_CHECK(m.options().method != Method::full, "save_peft_adapter: the model has no adapters (method full)");
  fs::create_directories(dir);
  const LoraConfig& l = m.options().lora;
  json targets = json::array();
  for (int p = 0; p < kNumProj; p++)
    if (l.targets[size_t(p)]) targets.push_back(proj_name(p));
  // The keys peft's LoraConfig writes (peft 0.1x), so PeftModel.from_pretrained reads it unchanged.
  const json cfg = {{"alpha_pattern", json::object()},
                    {"auto_mapping", nullptr},
                    {"base_model_name_or_path", base_model},
                    {"bias", "none"},
                    {"fan_in_fan_out", false},
                    {"inference_mode", true},
                    {"init_lora_weights", true},
                    {"layers_pattern", nullptr},
                    {"layers_to_transform", nullptr},
                    {"lora_alpha", l.alpha},
                    {"lora_dropout", l.dropout},
                    {"modules_to_save", nullptr},
                    {"peft_type", "LORA"},
                    {"r", l.rank},
                    {"rank_pattern", json::object()},
                    {"revision", nullptr},
                    {"target_modules", targets},
                    {"task_type", "CAUSAL_LM"},
                    {"use_dora", false},
                    {"use_rslora", false}};
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  const auto& a = m.adapters();
  for (size_t i = 0; i < a.entries.size(); i++) w.add(a.entries[i].name, DType::F32, a.entries[i].shape, a.ptr(int(i)));
  w.write((fs::path(dir) / "adapter_model.safetensors").string());
  write_file_atomic((fs::path(dir) / "adapter_config.json").string(), cfg.dump(2) + "\n");
}

PeftAdapter load_peft_adapter(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "adapter_config.json").string();
  const std::string st_path = (fs::path(dir) / "adapter_model.safetensors").string();
  if (!fs::exists(cfg_path)) throw Error("no adapter_config.json").at(dir).hint("pass the directory a LoRA run or peft wrote");
  json j;
  try {
    j = json::parse(read_file(cfg_path));
  } catch (const json::exception& e) {
    throw Error(fmt::format("invalid JSON: {}", e.what())).at(cfg_path);
  }
  auto bad = [&](const std::string& what) { return Error(what).at(cfg_path); };
  if (j.value("peft_type", "LORA") != "LORA") throw bad("peft_type is not LORA");
  if (j.value("use_dora", false) || j.value("use_rslora", false)) throw bad("DoRA / rsLoRA adapters are not supported");
  if (j.value("fan_in_fan_out", false)) throw bad("fan_in_fan_out adapters are not supported");
  if (j.contains("rank_pattern") && !j["rank_pattern"].empty()) throw bad("per-module rank_pattern is not supported");
  if (j.contains("alpha_pattern") && !j["alpha_pattern"].empty()) throw bad("per-module alpha_pattern is not supported");
  if (j.value("bias", std::string("none")) != "none") throw bad("adapters with trained biases are not supported");
  PeftAdapter a;
  try {
    a.lora.rank = j.at("r").get<int>();
    a.lora.alpha = j.at("lora_alpha").get<float>();
    a.lora.dropout = j.value("lora_dropout", 0.0f);
    a.base_model = j.value("base_model_name_or_path", std::string());
    if (!j.at("target_modules").is_array()) throw bad("target_modules must be a list of module names");
    a.lora.targets.fill(false);
    for (const auto& t : j.at("target_modules")) {
      const std::string name = t.get<std::string>();
      int found = -1;
      for (int p = 0; p < kNumProj; p++)
        if (name == proj_name(p)) found = p;
      if (found < 0) throw bad(fmt::format("target module {} is not one of q/k/v/o/gate/up/down_proj", name));
      a.lora.targets[size_t(found)] = true;
    }
  } catch (const json::exception& e) {
    throw bad(fmt::format("bad field: {}", e.what()));
  }
  if (a.lora.rank <= 0) throw bad(fmt::format("r = {} must be positive", a.lora.rank));
  const SafetensorsFile st = SafetensorsFile::open(st_path);
  for (const auto& t : st.tensors()) {
    a.tensors[t.name] = tensor_to_f32(t.view, t.name, st_path);
    a.shapes[t.name] = t.shape;
  }
  return a;
}

void apply_peft_adapter(TrainModel<float>& m, const PeftAdapter& a, const std::string& where) {
  const LoraConfig& l = m.options().lora;
  SI_CHECK(l.rank == a.lora.rank && l.targets == a.lora.targets, "{}: adapter rank/targets differ from the model's", where);
  auto& ad = m.adapters();
  for (size_t i = 0; i < ad.entries.size(); i++) {
    const auto& e = ad.entries[i];
    auto it = a.tensors.find(e.name);
    if (it == a.tensors.end()) throw Error(fmt::format("adapter has no tensor {}", e.name)).at(where);
    if (a.shapes.at(e.name) != e.shape)
      throw Error(fmt::format("adapter tensor {} has shape {}, the model needs {}", e.name, shape_str(a.shapes.at(e.name)),
                              shape_str(e.shape)))
          .at(where);
    std::memcpy(ad.ptr(int(i)), it->second.data(), it->second.size() * 4);
  }
  if (a.tensors.size() != ad.entries.size())
    throw Error(fmt::format("adapter has {} tensors, the model expects {}", a.tensors.size(), ad.entries.size())).at(where);
}

void save_hf_model(const LlamaConfig& cfg, const std::vector<NamedTensor>& tensors, const std::string& dir, DType dtype) {
  SI_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16, "model dtype must be f32, f16 or bf16");
  fs::create_directories(dir);
  json j = llama_config_to_hf_json(cfg);
  j["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
  std::vector<std::vector<uint16_t>> half(tensors.size());
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (size_t i = 0; i < tensors.size(); i++) {
    const auto& t = tensors[i];
    if (dtype == DType::F32) {
      w.add(t.name, DType::F32, t.shape, t.data.data());
      continue;
    }
    half[i].resize(t.data.size());
    for (size_t k = 0; k < t.data.size(); k++) half[i][k] = dtype == DType::F16 ? f32_to_f16(t.data[k]) : f32_to_bf16(t.data[k]);
    w.add(t.name, dtype, t.shape, half[i].data());
  }
  w.write((fs::path(dir) / "model.safetensors").string());
  write_file_atomic((fs::path(dir) / "config.json").string(), j.dump(2) + "\n");
}

void save_run_output(const TrainModel<float>& m, const std::string& dir, const std::string& base_model,
                     const std::map<std::string, std::string>& extra) {
  fs::create_directories(dir);
  if (m.options().method == Method::full) {
    std::vector<NamedTensor> ts;
    const auto& b = m.base();
    for (size_t i = 0; i < b.entries.size(); i++)
      ts.push_back({b.entries[i].name, b.entries[i].shape, std::vector<float>(b.ptr(int(i)), b.ptr(int(i)) + b.entries[i].numel)});
    save_hf_model(m.config(), ts, dir, DType::F32);
  } else {
    save_peft_adapter(m, dir, base_model);
  }
  json info = {{"method", method_name(m.options().method)}, {"base", base_model}};
  for (const auto& [k, v] : extra) info[k] = v;
  write_file_atomic((fs::path(dir) / "shopintent_train.json").string(), info.dump(2) + "\n");
}

}  // namespace si::train
