#include "quant/gguf_quantize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "ops/cpu/quants.h"
#include "quant/gguf_types.h"
#include "quant/hf_to_gguf.h"

namespace si {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// One output tensor: where its data comes from and what it becomes.
struct Job {
  std::string name;            // GGUF name
  Shape shape;                 // outermost first; shape.back() is the row length
  DType out_type = DType::F32;
  const uint8_t* src = nullptr;
  DType src_type = DType::F32;
  int permute_heads = 0;       // > 0: HF q/k rows reordered for GGML's RoPE pairs
  std::vector<float> owned;    // generated data (rope_freqs)
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

bool is_convertible(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Emits the job's bytes: copied when nothing changes, else row chunks converted to float and
// quantized on the pool (each row independently, so the split does not change any byte).
void emit_job(const Job& job, ThreadPool& pool, const GgufWriter::ByteSink& emit) {
  const int64_t cols = job.shape.empty() ? 1 : job.shape.back();
  const int64_t rows = job.numel() / cols;
  const uint64_t src_rb = dtype_row_bytes(job.src_type, uint64_t(cols));
  const uint64_t out_rb = dtype_row_bytes(job.out_type, uint64_t(cols));
  if (job.src_type == job.out_type && job.permute_heads == 0) {
    emit(job.src, size_t(src_rb * uint64_t(rows)));
    return;
  }
  const int64_t chunk = std::max<int64_t>(1, (8 << 20) / (cols * 4));
  std::vector<float> f32(size_t(std::min(chunk, rows) * cols));
  std::vector<uint8_t> out(size_t(uint64_t(std::min(chunk, rows)) * out_rb));
  const int64_t hd = job.permute_heads > 0 ? rows / job.permute_heads : 0;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t nr = std::min(chunk, rows - r0);
    pool.parallel_for(nr, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        int64_t src_row = r0 + i;
        if (hd > 0) {  // out[h*hd + 2j + t] = in[h*hd + t*hd/2 + j]
          const int64_t h = src_row / hd, k = src_row % hd;
          src_row = h * hd + (k % 2) * (hd / 2) + k / 2;
        }
        float* x = f32.data() + i * cols;
        cpu::dequantize_row(job.src_type, job.src + uint64_t(src_row) * src_rb, x, cols);
        cpu::quantize_row(job.out_type, x, out.data() + uint64_t(i) * out_rb, cols);
      }
    });
    emit(out.data(), size_t(uint64_t(nr) * out_rb));
  }
}

int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

// llama.cpp's weight_name_comparer: non-layer tensors first, then by layer, each group by name.
bool llama_order(const std::string& a, const std::string& b) {
  const int la = layer_of(a), lb = layer_of(b);
  if (la != lb) return la < lb;
  return a < b;
}

void check_row_length(const Job& j) {
  const int64_t cols = j.shape.empty() ? 1 : j.shape.back();
  SI_CHECK(cols % dtype_block_size(j.out_type) == 0, "tensor '{}' {}: rows of {} are not a multiple of the {} block",
           j.name, shape_str(j.shape), cols, dtype_name(j.out_type));
}

struct Plan {
  GgufWriter writer;
  std::vector<std::unique_ptr<Job>> jobs;
  uint64_t bytes_in = 0;
};

void plan_from_gguf(const GgufFile& g, const GgufTarget& target, Plan& p) {
  const std::string arch = g.find("general.architecture") ? g.get_string("general.architecture") : "";
  if (arch != "llama")
    throw Error(fmt::format("architecture '{}' is not supported: only 'llama' GGUF models quantize", arch)).at(g.path());
  for (const auto& kv : g.metadata())
    if (kv.key != "general.file_type") p.writer.set(kv.key, kv.value);
  p.writer.set("general.quantization_version", GgufValue::of(uint32_t(2)));
  p.writer.set("general.file_type", GgufValue::of(target.file_type));
  const int n_layers = int(g.get_u32("llama.block_count"));
  const bool has_output = g.find_tensor("output.weight") != nullptr;
  std::vector<const GgufTensorInfo*> order;
  for (const auto& t : g.tensors()) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return llama_order(a->name, b->name); });
  for (const auto* t : order) {
    if (!is_convertible(t->dtype))
      throw Error(fmt::format("tensor '{}' is already {}: quantize from an F32, F16 or BF16 model", t->name,
                              dtype_name(t->dtype)))
          .at(g.path(), g.data_offset() + t->offset);
    auto j = std::make_unique<Job>();
    j->name = t->name;
    j->shape = t->shape;
    j->src = g.data() + g.data_offset() + t->offset;
    j->src_type = t->dtype;
    j->out_type = gguf_is_quantizable(t->name, t->shape) ? gguf_tensor_type(target, t->name, t->shape, n_layers, has_output)
                                                          : t->dtype;
    p.bytes_in += t->bytes;
    p.jobs.push_back(std::move(j));
  }
}

json read_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path);
  if (!in) throw Error("cannot open config.json").at(path).hint("--model takes a Hugging Face directory or a .gguf file");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("invalid JSON at byte {}: {}", e.byte, e.what())).at(path);
  }
}

void plan_from_hf(const std::string& dir, const SafetensorsModel& st, const GgufTarget& target, const std::string& name,
                  Plan& p) {
  const json cfg = read_config(dir);
  bool llama = cfg.value("model_type", "") == "llama";
  if (cfg.contains("architectures"))
    for (const auto& a : cfg["architectures"]) llama = llama || a == "LlamaForCausalLM";
  if (!llama)
    throw Error(fmt::format("model_type '{}' is not supported: only LlamaForCausalLM checkpoints convert",
                            cfg.value("model_type", "?")))
        .at(dir + "/config.json");
  const int n_layers = cfg.at("num_hidden_layers").get<int>();
  const int n_head = cfg.at("num_attention_heads").get<int>();
  const int n_kv = cfg.value("num_key_value_heads", n_head);
  const bool has_output = st.find("lm_head.weight") != nullptr;

  if (auto factors = llama3_rope_factors(cfg); !factors.empty()) {
    auto j = std::make_unique<Job>();
    j->name = "rope_freqs.weight";
    j->shape = {int64_t(factors.size())};
    j->owned = std::move(factors);
    j->src = reinterpret_cast<const uint8_t*>(j->owned.data());
    p.jobs.push_back(std::move(j));
  }
  uint64_t n_params = 0;
  // The converter walks each shard's tensors in sorted-name order.
  for (const auto& shard : st.shards()) {
    std::vector<const SafetensorsTensor*> ts;
    for (const auto& t : shard.tensors()) ts.push_back(&t);
    std::sort(ts.begin(), ts.end(), [](auto* a, auto* b) { return a->name < b->name; });
    for (const auto* t : ts) {
      if (t->name.find("rotary_emb.inv_freq") != std::string::npos) continue;
      if (!is_convertible(t->dtype))
        throw Error(fmt::format("tensor '{}' has dtype {}: expected F32, F16 or BF16", t->name, dtype_name(t->dtype)))
            .at(shard.path());
      auto j = std::make_unique<Job>();
      j->name = gguf_name_from_hf(t->name);
      j->shape = t->shape;
      j->src = static_cast<const uint8_t*>(t->view.data);
      j->src_type = t->dtype;
      if (j->name.find("attn_q.weight") != std::string::npos) j->permute_heads = n_head;
      if (j->name.find("attn_k.weight") != std::string::npos) j->permute_heads = n_kv;
      if (j->permute_heads > 0 && (j->shape.size() != 2 || j->shape[0] % (2 * j->permute_heads) != 0))
        throw Error(fmt::format("tensor '{}' {}: expected 2-D with rows a multiple of 2 x {} heads", t->name,
                                shape_str(t->shape), j->permute_heads))
            .at(shard.path());
      j->out_type = target.base == DType::F32 ? DType::F32
                                              : gguf_tensor_type(target, j->name, j->shape, n_layers, has_output);
      n_params += uint64_t(j->numel());
      p.bytes_in += t->bytes();
      p.jobs.push_back(std::move(j));
    }
  }
  add_hf_llama_metadata(p.writer, dir, cfg, name, n_params, target.file_type);
}

}  // namespace

GgufQuantizeResult gguf_quantize(const GgufQuantizeOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const GgufTarget target = gguf_target_from_name(o.to);
  SI_CHECK(!o.out.empty(), "no output file: give --out FILE.gguf");
  SI_CHECK(o.threads >= 1, "threads must be at least 1, got {}", o.threads);
  const bool is_dir = fs::is_directory(o.model);
  if (!is_dir && !fs::exists(o.model))
    throw Error("no such file or directory").at(o.model).hint("--model takes a Hugging Face directory or a .gguf file");

  Plan plan;
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<SafetensorsModel> st;
  if (is_dir) {
    st = std::make_unique<SafetensorsModel>(SafetensorsModel::open(o.model));
    std::string name = o.name;
    if (name.empty()) name = fs::path(o.model).lexically_normal().filename().string();
    if (name.empty() || name == ".") name = fs::absolute(o.model).lexically_normal().parent_path().filename().string();
    plan_from_hf(o.model, *st, target, name, plan);
  } else {
    gguf = std::make_unique<GgufFile>(GgufFile::open(o.model));
    plan_from_gguf(*gguf, target, plan);
  }

  GgufQuantizeResult result;
  ThreadPool pool(o.threads);
  Progress progress("quantize " + target.name, int64_t(plan.jobs.size()), "tensors", o.quiet);
  for (const auto& jp : plan.jobs) {
    const Job* j = jp.get();
    check_row_length(*j);
    result.tensors_per_type[std::string(dtype_name(j->out_type))]++;
    plan.writer.add_tensor(j->name, j->out_type, j->shape, [j, &pool, &progress](const GgufWriter::ByteSink& emit) {
      emit_job(*j, pool, emit);
      progress.advance(1, j->name);
    });
  }
  plan.writer.write(o.out);
  progress.finish();
  result.n_tensors = int64_t(plan.jobs.size());
  result.bytes_in = plan.bytes_in;
  result.bytes_out = fs::file_size(o.out);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace si
