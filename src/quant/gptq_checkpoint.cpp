#include "quant/gptq_checkpoint.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "core/mmap.h"
#include "core/thread_pool.h"

namespace si {
namespace fs = std::filesystem;
using json = nlohmann::json;

json GptqQuantConfig::quantize_config_json() const {
  // AutoGPTQ's BaseQuantizeConfig.to_dict() keys, in its order.
  return json{{"bits", bits},
              {"group_size", group_size},
              {"damp_percent", damp_percent},
              {"desc_act", desc_act},
              {"static_groups", false},
              {"sym", sym},
              {"true_sequential", true_sequential},
              {"model_name_or_path", nullptr},
              {"model_file_base_name", "model"},
              {"quant_method", "gptq"},
              {"checkpoint_format", gptq_format_name(format)}};
}

json GptqQuantConfig::hf_json() const {
  // transformers' GPTQConfig.to_dict(): "format" is the current key, "checkpoint_format" the legacy one
  // that AutoGPTQ and older transformers read.
  return json{{"bits", bits},         {"group_size", group_size},
              {"damp_percent", damp_percent}, {"desc_act", desc_act},
              {"sym", sym},           {"true_sequential", true_sequential},
              {"static_groups", false}, {"quant_method", "gptq"},
              {"format", gptq_format_name(format)}, {"checkpoint_format", gptq_format_name(format)}};
}

GptqQuantConfig GptqQuantConfig::from_json(const json& j, const std::string& where) {
  GptqQuantConfig q;
  try {
    const std::string method = j.value("quant_method", std::string("gptq"));
    if (method != "gptq")
      throw Error(fmt::format("quant_method '{}' is not GPTQ", method)).at(where);
    q.bits = j.at("bits").get<int>();
    q.group_size = j.value("group_size", -1);
    q.desc_act = j.value("desc_act", false);
    q.sym = j.value("sym", true);
    q.damp_percent = j.value("damp_percent", 0.01);
    q.true_sequential = j.value("true_sequential", true);
    std::string f = j.value("checkpoint_format", std::string("gptq"));
    if (j.contains("format") && j["format"].is_string()) f = j["format"].get<std::string>();
    if (f == "marlin" || j.value("is_marlin_format", false))
      throw Error("GPTQ checkpoint_format 'marlin' is not supported (its qweight is repacked for the Marlin kernel)")
          .at(where).hint("use a checkpoint in the plain \"gptq\" format");
    // static_groups only changes how g_idx was made; the tensors read the same way.
    q.format = gptq_format_from_name(f);
  } catch (const json::exception& e) {
    throw Error(fmt::format("bad GPTQ quantization config: {}", e.what())).at(where);
  } catch (const Error& e) {
    if (!e.path().empty()) throw;
    throw Error(e.message()).at(where);
  }
  if (q.bits != 4 && q.bits != 8)
    throw Error(fmt::format("GPTQ bits {} is not supported (4 or 8)", q.bits)).at(where);
  if (q.group_size != -1 && q.group_size <= 0)
    throw Error(fmt::format("GPTQ group_size {} must be -1 or positive", q.group_size)).at(where);
  return q;
}

std::optional<GptqQuantConfig> gptq_config_of_dir(const std::string& dir) {
  const fs::path cfg = fs::path(dir) / "config.json", qcfg = fs::path(dir) / "quantize_config.json";
  if (fs::exists(cfg)) {
    json j;
    try {
      j = json::parse(read_file(cfg.string()));
    } catch (const json::exception& e) {
      throw Error(fmt::format("invalid JSON: {}", e.what())).at(cfg.string());
    }
    if (j.contains("quantization_config")) {
      const json& q = j["quantization_config"];
      if (!q.is_object()) throw Error("quantization_config is not an object").at(cfg.string());
      const std::string method = q.value("quant_method", std::string());
      if (method == "gptq") return GptqQuantConfig::from_json(q, cfg.string());
      throw Error(fmt::format("quantization_config.quant_method '{}' is not supported (only \"gptq\")", method))
          .at(cfg.string());
    }
  }
  if (fs::exists(qcfg)) {
    try {
      return GptqQuantConfig::from_json(json::parse(read_file(qcfg.string())), qcfg.string());
    } catch (const json::exception& e) {
      throw Error(fmt::format("invalid JSON: {}", e.what())).at(qcfg.string());
    }
  }
  return std::nullopt;
}

namespace {

const char* kModules[kGptqLinears] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

// (out, in) of linear `proj` of a Llama layer.
std::pair<int64_t, int64_t> linear_shape(const LlamaConfig& c, int proj) {
  const int64_t C = c.hidden_size, F = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  const std::pair<int64_t, int64_t> s[kGptqLinears] = {{Q, C}, {KV, C}, {KV, C}, {C, Q}, {F, C}, {F, C}, {C, F}};
  return s[proj];
}

const SafetensorsTensor& need(const SafetensorsModel& st, const std::string& name, DType dtype, const Shape& shape,
                              const GptqLayout& l, const std::string& dir) {
  const SafetensorsTensor* t = st.find(name);
  const std::string what = fmt::format("{}-bit, group_size {}, in_features {}, out_features {}", l.bits, l.group_size,
                                       l.in, l.out);
  if (!t)
    throw Error(fmt::format("GPTQ tensor '{}' is missing (expected {} {} for {})", name, dtype_name(dtype),
                            shape_str(shape), what)).at(dir).hint("is this a complete GPTQ checkpoint of this config?");
  if (t->dtype != dtype || t->shape != shape)
    throw Error(fmt::format("GPTQ tensor '{}' is {} {}, expected {} {} ({})", name, dtype_name(t->dtype),
                            shape_str(t->shape), dtype_name(dtype), shape_str(shape), what)).at(dir);
  return *t;
}

}  // namespace

std::string gptq_linear_prefix(int layer, int proj) {
  SI_CHECK(proj >= 0 && proj < kGptqLinears, "gptq_linear_prefix: projection {} outside 0..6", proj);
  return fmt::format("model.layers.{}.{}", layer, kModules[proj]);
}

std::shared_ptr<GptqModelWeights> GptqModelWeights::load(const std::string& dir, const LlamaConfig& cfg,
                                                         const GptqQuantConfig& q, DType dense, bool quiet,
                                                         bool dequantize) {
  SI_CHECK(dense == DType::F16 || dense == DType::F32, "GPTQ: dequantize to F16 or F32, not {}", dtype_name(dense));
  std::shared_ptr<GptqModelWeights> g(new GptqModelWeights());
  g->st_ = SafetensorsModel::open(dir);
  g->q_ = q;
  g->dequantized_ = dequantize;
  ThreadPool pool(ThreadPool::default_threads());
  for (int layer = 0; layer < cfg.n_layers; ++layer)
    for (int p = 0; p < kGptqLinears; ++p) {
      const std::string prefix = gptq_linear_prefix(layer, p);
      const auto [out, in] = linear_shape(cfg, p);
      GptqLayout l{q.bits, q.group_size, in, out};
      try {
        l.validate(prefix);
      } catch (const Error& e) {
        throw Error(e.message()).at(dir);
      }
      const auto& qw = need(g->st_, prefix + ".qweight", DType::I32, l.qweight_shape(), l, dir);
      const auto& qz = need(g->st_, prefix + ".qzeros", DType::I32, l.qzeros_shape(), l, dir);
      const auto& sc = need(g->st_, prefix + ".scales", DType::F16, l.scales_shape(), l, dir);
      const auto& gi = need(g->st_, prefix + ".g_idx", DType::I32, l.g_idx_shape(), l, dir);
      const GptqView v{l, qw.view.as<const int32_t>(), qz.view.as<const int32_t>(), sc.view.as<const uint16_t>(),
                       gi.view.as<const int32_t>()};
      if (const int64_t bad = gptq_check_g_idx(v); bad >= 0)
        throw Error(fmt::format("GPTQ tensor '{}.g_idx' entry {} is {}, outside the {} groups [0, {})", prefix, bad,
                                v.g_idx[bad], l.n_groups(), l.n_groups())).at(dir);
      g->packed_bytes_ += qw.bytes() + qz.bytes() + sc.bytes() + gi.bytes();
      g->linears_.push_back(v);
      TensorView t{nullptr, dense, {out, in}};
      if (dequantize) {
        t.data = g->arena_.alloc_bytes(t.bytes());
        pool.parallel_for(out, [&](int64_t b, int64_t e, int) {
          if (dense == DType::F16) gptq_dequantize_f16(v, q.format, b, e, t.as<uint16_t>() + b * in);
          else gptq_dequantize(v, q.format, b, e, t.as<float>() + b * in);
        }, 16);
      }
      g->dense_[prefix + ".weight"] = t;
    }
  if (!quiet && dequantize)
    fmt::print(stderr, "gptq: {}: {} linear weights ({}-bit, group {}{}) dequantized to {} at load: {:.1f} MiB in RAM "
               "(packed {:.1f} MiB)\n", dir, g->dense_.size(), q.bits, q.group_size, q.desc_act ? ", act-order" : "",
               dtype_name(dense), double(g->dense_bytes()) / 1048576.0, double(g->packed_bytes()) / 1048576.0);
  if (!quiet && !dequantize)
    fmt::print(stderr, "gptq: {}: {} linear weights ({}-bit, group {}{}) kept packed: {:.1f} MiB\n", dir,
               g->linears_.size(), q.bits, q.group_size, q.desc_act ? ", act-order" : "",
               double(g->packed_bytes()) / 1048576.0);
  return g;
}

const TensorView* GptqModelWeights::find(const std::string& name) const {
  if (auto it = dense_.find(name); it != dense_.end()) return &it->second;
  const SafetensorsTensor* t = st_.find(name);
  return t ? &t->view : nullptr;
}

const GptqView& GptqModelWeights::linear(int layer, int proj) const {
  const size_t i = size_t(layer) * kGptqLinears + size_t(proj);
  SI_CHECK(layer >= 0 && proj >= 0 && proj < kGptqLinears && i < linears_.size(),
           "GPTQ: no Linear {} in layer {} ({} layers of {})", proj, layer, linears_.size() / kGptqLinears, kGptqLinears);
  return linears_[i];
}

namespace {

// A stored F32/F16/BF16 tensor emitted as F16.
SafetensorsWriter::Source to_f16(const SafetensorsTensor& t) {
  return [&t](const SafetensorsWriter::ByteSink& emit) {
    const int64_t n = t.view.numel();
    if (t.dtype == DType::F16) return emit(t.view.data, size_t(n) * 2);
    std::vector<uint16_t> buf(size_t(std::min<int64_t>(n, 1 << 20)));
    for (int64_t k0 = 0; k0 < n; k0 += int64_t(buf.size())) {
      const int64_t m = std::min<int64_t>(int64_t(buf.size()), n - k0);
      for (int64_t k = 0; k < m; ++k) {
        float x;
        if (t.dtype == DType::F32) x = t.view.as<const float>()[k0 + k];
        else x = bf16_to_f32(t.view.as<const uint16_t>()[k0 + k]);
        buf[size_t(k)] = f32_to_f16(x);
      }
      emit(buf.data(), size_t(m) * 2);
    }
  };
}

}  // namespace

void write_gptq_dir(const std::string& out_dir, const std::string& src_dir, const SafetensorsModel& src,
                    const GptqQuantConfig& q, const std::map<std::string, GptqPacked>& linears) {
  require_new_dir(out_dir);
  json config;
  const std::string cfg_path = (fs::path(src_dir) / "config.json").string();
  try {
    config = json::parse(read_file(cfg_path));
  } catch (const json::exception& e) {
    throw Error(fmt::format("invalid JSON: {}", e.what())).at(cfg_path);
  }
  config["quantization_config"] = q.hf_json();
  config["torch_dtype"] = "float16";

  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  size_t used = 0;
  for (const SafetensorsTensor* t : src.tensors()) {
    const std::string& name = t->name;
    const std::string prefix = name.size() > 7 && name.ends_with(".weight") ? name.substr(0, name.size() - 7) : "";
    if (auto it = linears.find(prefix); it != linears.end()) {
      const GptqPacked& p = it->second;
      SI_CHECK(t->shape == (Shape{p.layout.out, p.layout.in}), "{}: {} is {}, the quantized layer is {} x {}", src_dir,
               name, shape_str(t->shape), p.layout.out, p.layout.in);
      w.add(prefix + ".qweight", DType::I32, p.layout.qweight_shape(), p.qweight.data());
      w.add(prefix + ".qzeros", DType::I32, p.layout.qzeros_shape(), p.qzeros.data());
      w.add(prefix + ".scales", DType::F16, p.layout.scales_shape(), p.scales.data());
      w.add(prefix + ".g_idx", DType::I32, p.layout.g_idx_shape(), p.g_idx.data());
      used++;
      continue;
    }
    SI_CHECK(t->dtype == DType::F32 || t->dtype == DType::F16 || t->dtype == DType::BF16,
             "{}: tensor '{}' is {}; only F32/F16/BF16 models can be written as GPTQ", src_dir, name, dtype_name(t->dtype));
    w.add(name, DType::F16, t->shape, to_f16(*t));
  }
  SI_CHECK(used == linears.size(), "{}: {} quantized layers given, {} found among the model's tensors", src_dir,
           linears.size(), used);

  write_dir_atomic(out_dir, [&](const fs::path& tmp) {
    w.write((tmp / "model.safetensors").string());
    write_file_atomic((tmp / "config.json").string(), config.dump(2) + "\n");
    write_file_atomic((tmp / "quantize_config.json").string(), q.quantize_config_json().dump(2) + "\n");
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"})
      if (fs::exists(fs::path(src_dir) / f)) fs::copy_file(fs::path(src_dir) / f, tmp / f);
  });
}

}  // namespace si
