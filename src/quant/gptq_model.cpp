#include "quant/gptq_model.h"

#include <chrono>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "core/progress.h"
#include "core/system.h"
#include "data/task_spec.h"
#include "formats/safetensors.h"
#include "quant/gptq_calib.h"
#include "quant/gptq_checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace si {
namespace fs = std::filesystem;

void gptq_parse_target(const std::string& to, GptqOptions& o) {
  std::vector<std::string> parts;
  size_t b = 0;
  for (size_t e; (e = to.find(':', b)) != std::string::npos; b = e + 1) parts.push_back(to.substr(b, e - b));
  parts.push_back(to.substr(b));
  auto bad = [&](const std::string& why) {
    return Error(fmt::format("--to {}: {}", to, why)).hint("use gptq:BITS:GROUP[:act][:asym], e.g. gptq:4:128 or gptq:8:-1:act");
  };
  if (parts.size() < 3 || parts[0] != "gptq") throw bad("not a GPTQ target");
  try {
    o.bits = std::stoi(parts[1]);
    o.group_size = std::stoi(parts[2]);
  } catch (const std::exception&) {
    throw bad("BITS and GROUP must be integers");
  }
  if (o.bits != 4 && o.bits != 8) throw bad(fmt::format("{} bits is not supported (4 or 8)", o.bits));
  if (o.group_size != -1 && o.group_size <= 0) throw bad("GROUP must be -1 (per-channel) or positive");
  for (size_t i = 3; i < parts.size(); ++i) {
    if (parts[i] == "act") o.desc_act = true;
    else if (parts[i] == "asym") o.sym = false;
    else throw bad(fmt::format("unknown flag '{}' (act, asym)", parts[i]));
  }
}

namespace {

big_vector<float> to_f32(const SafetensorsModel& st, const std::string& name, const Shape& shape) {
  const SafetensorsTensor& t = st.get(name);
  if (t.shape != shape)
    throw Error(fmt::format("tensor '{}' has shape {}, expected {} from the config", name, shape_str(t.shape),
                            shape_str(shape))).at(st.path());
  const int64_t n = t.view.numel();
  big_vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DType::F32: v[size_t(i)] = t.view.as<const float>()[i]; break;
      case DType::F16: v[size_t(i)] = f16_to_f32(t.view.as<const uint16_t>()[i]); break;
      case DType::BF16: v[size_t(i)] = bf16_to_f32(t.view.as<const uint16_t>()[i]); break;
      default:
        throw Error(fmt::format("tensor '{}' is {}; GPTQ needs an F32/F16/BF16 model", name, dtype_name(t.dtype)))
            .at(st.path());
    }
  }
  return v;
}

// In GptqProj order.
const char* kNames[kGptqLinears] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

}  // namespace

namespace {

// Adds the wall-clock and process CPU time of its scope to a stage.
class StageTimer {
 public:
  explicit StageTimer(GptqStageTime& t) : t_(t), w0_(std::chrono::steady_clock::now()), c0_(process_cpu_seconds()) {}
  ~StageTimer() {
    t_.wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0_).count();
    t_.cpu += process_cpu_seconds() - c0_;
  }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  GptqStageTime& t_;
  std::chrono::steady_clock::time_point w0_;
  double c0_;
};

}  // namespace

GptqModelResult gptq_quantize_model(const GptqModelOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  require_new_dir(o.out);
  const std::string cfg_path = (fs::path(o.model) / "config.json").string();
  if (!fs::is_directory(o.model) || !fs::exists(cfg_path))
    throw Error("not a Hugging Face model directory (no config.json)").at(o.model)
        .hint("GPTQ quantizes an HF safetensors directory, e.g. the output of `shopintent merge`");
  if (gptq_config_of_dir(o.model)) throw Error("the model is already GPTQ-quantized").at(o.model);
  LlamaConfig cfg = llama_config_from_hf_file(cfg_path);
  cfg.validate(cfg_path);
  const SafetensorsModel st = SafetensorsModel::open(o.model);
  GptqModelResult res;
  GptqStages& stages = res.stages;
  std::unique_ptr<CalibSet> cs;
  std::unique_ptr<GptqBackend> b;
  {
    StageTimer t(stages.calib);
    const Tokenizer tok = Tokenizer::load(o.tokenizer.empty() ? o.model : o.tokenizer);
    cs = std::make_unique<CalibSet>(load_calibration(o.calib, tok, load_task_spec(o.task), o.samples, o.max_len));
    set_blas_threads(o.threads);
    b = o.backend ? o.backend(cfg, *cs) : make_gptq_backend_cpu(cfg, *cs, o.threads);
    b->embed(st.get("model.embed_tokens.weight").view);
  }
  GptqOptions go = o.gptq;
  go.v1_zero = o.format == GptqFormat::v1;

  const int64_t N = cs->n_tokens(), S = cs->samples(), C = cfg.hidden_size, Q = cfg.q_dim(), KV = cfg.kv_dim(),
                F = cfg.intermediate_size;
  const std::pair<int64_t, int64_t> shape[kGptqLinears] = {{Q, C}, {KV, C}, {KV, C}, {C, Q}, {F, C}, {F, C}, {C, F}};
  if (!o.quiet)
    fmt::print(stderr, "gptq: {} samples of {} rows ({} too long), {} tokens; {}\n", S, cs->rows_read,
               cs->skipped_too_long, N, b->memory_note());

  res.samples = S;
  res.tokens = N;
  std::map<std::string, GptqPacked> packed;
  // Progress in millions of Linear weights (the work per Linear grows with its size).
  int64_t layer_weights = 0;
  for (const auto& [out, in] : shape) layer_weights += out * in;
  Progress progress(o.rtn ? "rtn" : "gptq", int64_t(cfg.n_layers) * layer_weights / 1000000, "Mweights", o.quiet);
  int64_t done_weights = 0;
  auto stage = [&](int l, const char* what) { progress.set(done_weights / 1000000, fmt::format("layer {} {}", l, what)); };
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string lp = fmt::format("model.layers.{}.", l);
    {
      StageTimer t(stages.load);
      GptqLayerWeights w;
      for (int p = 0; p < kGptqLinears; ++p)
        w.w[p] = to_f32(st, lp + kNames[p] + ".weight", {shape[p].first, shape[p].second});
      w.attn_norm = to_f32(st, lp + "input_layernorm.weight", {C});
      w.ffn_norm = to_f32(st, lp + "post_attention_layernorm.weight", {C});
      b->load_layer(std::move(w));
    }
    // Quantizes Linear p on the backend's current H; later steps use the quantized weight.
    auto quantize = [&](GptqProj p) {
      GptqResult r;
      {
        StageTimer t(stages.quantize);
        r = b->quantize(p, go, o.rtn);
      }
      res.quantize_seconds += r.seconds;
      stages.factor_wall += r.factor_seconds;
      res.linears.push_back({l, kNames[p], r.rel_err(), r.loss / double(S), r.seconds});
      {
        StageTimer t(stages.pack);
        packed[gptq_linear_prefix(l, p)] = gptq_pack(r.codes, o.format);
      }
      done_weights += shape[p].first * shape[p].second;
      progress.set(done_weights / 1000000, fmt::format("layer {} {} rel err {:.2e}", l, kNames[p], res.linears.back().rel_err));
    };
    auto forward = [&](void (GptqBackend::*step)()) {
      StageTimer t(stages.forward);
      ((*b).*step)();
    };
    auto hessian = [&](GptqAct a) {
      StageTimer t(stages.hessian);
      b->hessian(a);
    };
    stage(l, "attention inputs");
    forward(&GptqBackend::attention_inputs);
    hessian(GptqAct::xn);
    for (GptqProj p : {kGptqK, kGptqV, kGptqQ}) quantize(p);
    stage(l, "attention");
    forward(&GptqBackend::attention);
    stage(l, "o_proj inputs");
    hessian(GptqAct::att);
    quantize(kGptqO);
    forward(&GptqBackend::attention_output);
    hessian(GptqAct::xn);
    for (GptqProj p : {kGptqUp, kGptqGate}) quantize(p);
    stage(l, "mlp");
    forward(&GptqBackend::mlp);
    hessian(GptqAct::gate);
    quantize(kGptqDown);
    stage(l, "layer output");
    // The last layer's output feeds nothing that is quantized.
    if (l + 1 < cfg.n_layers) forward(&GptqBackend::mlp_output);
  }
  progress.finish();
  res.memory_note = b->memory_note();
  b.reset();
  if (!o.quiet) fmt::print(stderr, "gptq: writing {}\n", o.out);

  {
    StageTimer t(stages.write);
    GptqQuantConfig qc;
    qc.bits = o.gptq.bits, qc.group_size = o.gptq.group_size, qc.desc_act = o.gptq.desc_act, qc.sym = o.gptq.sym;
    qc.damp_percent = o.gptq.damp_percent, qc.true_sequential = true, qc.format = o.format;
    write_gptq_dir(o.out, o.model, st, qc, packed);
  }
  res.bytes_out = fs::file_size(fs::path(o.out) / "model.safetensors");
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.peak_rss_bytes = peak_rss_bytes();
  return res;
}

}  // namespace si
