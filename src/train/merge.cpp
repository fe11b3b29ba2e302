#include "train/merge.h"

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mmap.h"
#include "formats/llama_config.h"
#include "formats/safetensors.h"
#include "quant/nf4.h"
#include "train/hf_io.h"

namespace si::train {

namespace fs = std::filesystem;

std::string run_method(const std::string& run_dir) {
  const fs::path p = fs::path(run_dir) / "shopintent_train.json";
  if (!fs::exists(p)) return "";
  try {
    return nlohmann::json::parse(read_file(p.string())).value("method", "");
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("invalid JSON: {}", e.what())).at(p.string());
  }
}

MergeReport merge_adapter(const MergeOptions& o) {
  require_new_dir(o.out);
  const LlamaConfig cfg = llama_config_from_hf_file((fs::path(o.base) / "config.json").string());
  const SafetensorsModel st = SafetensorsModel::open(o.base);
  const PeftAdapter ad = load_peft_adapter(o.adapter);
  MergeReport rep;
  rep.onto_nf4 = o.onto == MergeOnto::nf4 || (o.onto == MergeOnto::automatic && run_method(o.adapter) == "qlora");
  const double scaling = double(ad.lora.alpha) / double(ad.lora.rank);
  std::vector<NamedTensor> out;
  double err2 = 0, ref2 = 0;
  for (const SafetensorsTensor* t : st.tensors()) {
    NamedTensor nt{t->name, t->shape, tensor_to_f32(t->view, t->name, st.path())};
    // "model.layers.N.self_attn.q_proj.weight" -> "base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight"
    const std::string suffix = ".weight";
    if (nt.name.size() > suffix.size() && nt.name.ends_with(suffix)) {
      const std::string stem = "base_model.model." + nt.name.substr(0, nt.name.size() - suffix.size());
      auto a = ad.tensors.find(stem + ".lora_A.weight");
      auto b = ad.tensors.find(stem + ".lora_B.weight");
      if (a != ad.tensors.end() && b != ad.tensors.end()) {
        const int64_t O = nt.shape.at(0), I = nt.shape.at(1), r = ad.lora.rank;
        if (ad.shapes.at(a->first) != Shape{r, I} || ad.shapes.at(b->first) != Shape{O, r})
          throw Error(fmt::format("adapter {} / {} do not fit {} {}", a->first, b->first, nt.name, shape_str(nt.shape))).at(o.adapter);
        if (rep.onto_nf4) {
          std::vector<float> q(nt.data.size());
          nf4_dequantize(nf4_quantize(nt.data.data(), int64_t(nt.data.size())), q.data());
          for (size_t i = 0; i < q.size(); i++) {
            err2 += double(q[i] - nt.data[i]) * double(q[i] - nt.data[i]);
            ref2 += double(nt.data[i]) * nt.data[i];
          }
          nt.data = std::move(q);
        }
        const float* A = a->second.data();  // (r, I)
        const float* B = b->second.data();  // (O, r)
        for (int64_t row = 0; row < O; row++)
          for (int64_t col = 0; col < I; col++) {
            double acc = 0;
            for (int64_t k = 0; k < r; k++) acc += double(B[row * r + k]) * double(A[k * I + col]);
            nt.data[size_t(row * I + col)] += float(scaling * acc);
          }
        rep.merged_tensors++;
      }
    }
    out.push_back(std::move(nt));
  }
  SI_CHECK(rep.merged_tensors == int(ad.tensors.size() / 2), "{}: {} adapter pairs, but only {} matched tensors of the base {}",
           o.adapter, ad.tensors.size() / 2, rep.merged_tensors, o.base);
  rep.nf4_rel_rms = ref2 > 0 ? std::sqrt(err2 / ref2) : 0;
  // Never a half-written model directory under the final name.
  write_dir_atomic(o.out, [&](const fs::path& tmp) {
    save_hf_model(cfg, out, tmp.string(), o.dtype);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"})
      if (fs::exists(fs::path(o.base) / f)) fs::copy_file(fs::path(o.base) / f, tmp / f);
  });
  return rep;
}

}  // namespace si::train
