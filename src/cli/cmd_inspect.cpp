// shopintent inspect PATH — what a GGUF file, a safetensors file or a model directory holds
// (metadata, config, tensors, totals), like llama.cpp's gguf-dump; --json for machines.
//
//   shopintent inspect model-Q4_K_M.gguf
//   shopintent inspect models/llama --json --no-tensors
//
// Directories: Hugging Face models (config.json + safetensors, sharded or not), GPTQ checkpoints
// (quantize_config.json) and PEFT adapters (adapter_config.json) are shown as their JSON configs
// plus their safetensors; GPTQ/PEFT semantics are not interpreted here.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/mmap.h"
#include "formats/gguf.h"
#include "formats/llama_config.h"
#include "formats/safetensors.h"

namespace si::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct InspectOptions {
  std::string path;
  bool as_json = false;
  bool tensors = true;
  size_t max_items = 0;  // 0: 8 in text, 64 in JSON
};

// Collects one report, printed as text or JSON at the end.
struct Report {
  json j = json::object();
  std::vector<std::string> lines;  // text form
};

std::string mib(uint64_t bytes) { return fmt::format("{:.2f} MiB", double(bytes) / 1048576.0); }

json config_json(const LlamaConfig& c) { return json::parse(llama_config_to_hf_json(c).dump()); }

std::string config_line(const LlamaConfig& c) {
  std::string rope = c.rope_scaling.type == "llama3"
                         ? fmt::format(", rope llama3 (factor {}, low {}, high {}, original {})", c.rope_scaling.factor,
                                       c.rope_scaling.low_freq_factor, c.rope_scaling.high_freq_factor,
                                       c.rope_scaling.original_max_position_embeddings)
                         : "";
  return fmt::format("Llama: vocab {}, hidden {}, ffn {}, layers {}, heads {} (kv {}), head_dim {}, context {}, eps {}, "
                     "rope theta {}{}, tied embeddings {}, bos {}, eos {}",
                     c.vocab_size, c.hidden_size, c.intermediate_size, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim,
                     c.max_position_embeddings, c.rms_norm_eps, c.rope_theta, rope, c.tie_word_embeddings ? "yes" : "no",
                     c.bos_token_id, c.eos_token_id);
}

struct TensorRow {
  std::string name, dtype, shape, file;
  uint64_t bytes, offset;
  int64_t numel;
};

void add_tensors(Report& r, const std::vector<TensorRow>& rows, const InspectOptions& o, const std::string& offset_note) {
  uint64_t bytes = 0;
  int64_t params = 0;
  for (const auto& t : rows) {
    bytes += t.bytes;
    params += t.numel;
  }
  r.j["totals"] = {{"tensors", rows.size()}, {"parameters", params}, {"bytes", bytes}};
  if (o.tensors) {
    json arr = json::array();
    size_t w = 4;
    for (const auto& t : rows) w = std::max(w, t.name.size());
    r.lines.push_back(fmt::format("tensors ({}; offsets relative to {}):", rows.size(), offset_note));
    r.lines.push_back(fmt::format("  {:<{}}  {:<5}  {:<14}  {:>12}  {:>12}{}", "name", w, "dtype", "shape", "bytes", "offset",
                                  rows.empty() || rows[0].file.empty() ? "" : "  file"));
    for (const auto& t : rows) {
      json e = {{"name", t.name}, {"dtype", t.dtype}, {"shape", json::parse(t.shape)}, {"bytes", t.bytes}, {"offset", t.offset}};
      if (!t.file.empty()) e["file"] = t.file;
      arr.push_back(std::move(e));
      r.lines.push_back(fmt::format("  {:<{}}  {:<5}  {:<14}  {:>12}  {:>12}{}", t.name, w, t.dtype, t.shape, t.bytes, t.offset,
                                    t.file.empty() ? "" : "  " + t.file));
    }
    r.j["tensors"] = std::move(arr);
  }
  r.lines.push_back(fmt::format("totals: {} tensors, {} parameters, {} bytes ({})", rows.size(), params, bytes, mib(bytes)));
}

void inspect_gguf(Report& r, const std::string& path, const InspectOptions& o) {
  const GgufFile g = GgufFile::open(path);
  r.j["format"] = "gguf";
  r.j["version"] = g.version();
  r.j["alignment"] = g.alignment();
  r.j["file_size"] = g.file_size();
  r.j["data_offset"] = g.data_offset();
  r.lines.push_back(fmt::format("{}: GGUF v{}, {} bytes ({}), alignment {}, data section at byte {}", path, g.version(),
                                g.file_size(), mib(g.file_size()), g.alignment(), g.data_offset()));
  const size_t text_items = o.max_items ? o.max_items : 8, json_items = o.max_items ? o.max_items : 64;
  json meta = json::array();
  size_t w = 0;
  for (const auto& kv : g.metadata()) w = std::max(w, kv.key.size());
  r.lines.push_back(fmt::format("metadata ({} keys):", g.metadata().size()));
  for (const auto& kv : g.metadata()) {
    const GgufValue& v = kv.value;
    const std::string type = v.is_array() ? "ARRAY" : std::string(gguf_type_name(v.type()));
    meta.push_back({{"key", kv.key}, {"type", type}, {"value", json::parse(v.to_json(json_items).dump())}});
    r.lines.push_back(fmt::format("  {:<{}}  {:<7}  {}", kv.key, w, type, v.to_string(text_items)));
  }
  r.j["metadata"] = std::move(meta);
  if (const GgufValue* arch = g.find("general.architecture"); arch && arch->get_if<std::string>() && *arch->get_if<std::string>() == "llama") {
    try {
      const LlamaConfig c = llama_config_from_gguf(g);
      r.j["config"] = config_json(c);
      r.lines.push_back("config: " + config_line(c));
    } catch (const Error& e) {
      r.j["config_error"] = e.what();
      r.lines.push_back(fmt::format("config: cannot be read: {}", e.what()));
    }
  }
  std::vector<TensorRow> rows;
  for (const auto& t : g.tensors())
    rows.push_back({t.name, std::string(dtype_name(t.dtype)), shape_str(t.shape), "", t.bytes, t.offset, t.numel()});
  add_tensors(r, rows, o, fmt::format("the data section at byte {}", g.data_offset()));
}

void add_safetensors(Report& r, const SafetensorsModel& m, const InspectOptions& o) {
  json shards = json::array();
  for (const auto& f : m.shards()) {
    json meta = json::object();
    for (const auto& [k, v] : f.metadata()) meta[k] = v;
    shards.push_back({{"file", fs::path(f.path()).filename().string()}, {"file_size", f.file_size()},
                      {"header_size", f.header_size()}, {"tensors", f.tensors().size()}, {"metadata", meta}});
    r.lines.push_back(fmt::format("{}: safetensors, {} bytes ({}), header {} bytes, {} tensors, metadata {}", f.path(),
                                  f.file_size(), mib(f.file_size()), f.header_size(), f.tensors().size(),
                                  meta.empty() ? "none" : meta.dump()));
  }
  r.j["safetensors"] = std::move(shards);
  if (!m.index_path().empty()) r.j["index"] = fs::path(m.index_path()).filename().string();
  const bool sharded = m.shards().size() > 1;
  std::vector<TensorRow> rows;
  for (const SafetensorsTensor* t : m.tensors()) {
    std::string file;
    if (sharded)
      for (const auto& f : m.shards())
        if (f.find(t->name) == t) file = fs::path(f.path()).filename().string();
    rows.push_back({t->name, std::string(dtype_name(t->dtype)), shape_str(t->shape), file, t->bytes(), t->begin, t->view.numel()});
  }
  add_tensors(r, rows, o, sharded ? "each shard's data section" : "the data section");
}

void inspect_dir(Report& r, const std::string& dir, const InspectOptions& o) {
  const fs::path d(dir);
  // The JSON configs a model, GPTQ or PEFT directory may carry, shown as they are.
  const char* kConfigs[] = {"config.json", "generation_config.json", "quantize_config.json", "adapter_config.json"};
  std::string kind = "directory";
  json configs = json::object();
  for (const char* name : kConfigs) {
    const fs::path p = d / name;
    if (!fs::exists(p)) continue;
    json j;
    try {
      j = json::parse(read_file(p.string()));
    } catch (const json::parse_error& e) {
      throw Error(fmt::format("not valid JSON: {}", e.what())).at(p.string(), e.byte ? e.byte - 1 : 0);
    }
    configs[name] = j;
  }
  if (configs.contains("adapter_config.json")) kind = "peft-adapter";
  else if (configs.contains("quantize_config.json") ||
           (configs.contains("config.json") && configs["config.json"].contains("quantization_config")))
    kind = "gptq";
  else if (configs.contains("config.json")) kind = "hf-model";
  r.j["format"] = kind;
  r.lines.push_back(fmt::format("{}: {}", dir, kind));
  for (auto it = configs.begin(); it != configs.end(); ++it) {
    r.lines.push_back(fmt::format("{}: {}", it.key(), it.value().dump()));
  }
  r.j["configs"] = configs;
  if (kind == "hf-model" || kind == "gptq") {
    const std::string cfg = (d / "config.json").string();
    const json& c = configs["config.json"];
    if (c.value("model_type", "") == "llama") {
      const LlamaConfig lc = llama_config_from_hf_file(cfg);
      r.j["config"] = config_json(lc);
      r.lines.push_back("config: " + config_line(lc));
    }
  }
  bool any = false;
  for (const auto& e : fs::directory_iterator(d)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) any = true;
  }
  if (any) add_safetensors(r, SafetensorsModel::open(dir), o);
  else r.lines.push_back("no .safetensors files");
  if (configs.empty() && !any)
    throw Error("neither a model directory (config.json, *.safetensors) nor an adapter").at(dir).hint(
        "pass a GGUF file, a .safetensors file or a Hugging Face model directory");
}

void run_inspect(const InspectOptions& o) {
  Report r;
  r.j["path"] = o.path;
  std::error_code ec;
  if (fs::is_directory(o.path, ec)) {
    inspect_dir(r, o.path, o);
  } else {
    std::string magic(4, '\0');
    std::ifstream in(o.path, std::ios::binary);
    if (!in) throw Error(fmt::format("cannot open: {}", std::strerror(errno))).at(o.path);
    in.read(magic.data(), 4);
    if (in.gcount() == 4 && magic == "GGUF") {
      inspect_gguf(r, o.path, o);
    } else {
      r.j["format"] = "safetensors";
      const bool named = o.path.ends_with(".safetensors") || o.path.ends_with(".json");
      try {
        add_safetensors(r, SafetensorsModel::open(o.path), o);
      } catch (const Error& e) {
        if (named) throw;
        throw Error(fmt::format("neither a GGUF file (no \"GGUF\" magic) nor a safetensors file ({})", e.message()))
            .at(o.path)
            .hint("pass a .gguf or .safetensors file or a model directory");
      }
    }
  }
  if (o.as_json) fmt::print("{}\n", r.j.dump(2));
  else fmt::print("{}\n", fmt::join(r.lines, "\n"));
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Show what a GGUF file, safetensors file or model directory holds");
  cmd->add_option("path", opts->path, "GGUF file, .safetensors file, or model / GPTQ / adapter directory")->required();
  cmd->add_flag("--json", opts->as_json, "Print one JSON object");
  cmd->add_flag("--tensors,!--no-tensors", opts->tensors, "List every tensor (default) or only totals");
  cmd->add_option("--max-items", opts->max_items, "Array items to show (default 8 in text, 64 in JSON)");
  cmd->callback([opts] { run_inspect(*opts); });
}

}  // namespace si::cli
