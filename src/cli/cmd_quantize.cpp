// shopintent quantize --model M --to gguf:Q4_K_M --out FILE [-t N] [--name NAME]
// shopintent quantize --model M --to gptq:BITS:GROUP[:act][:asym] --calib FILE [--samples N] --out DIR [--rtn]
//                     [--device cpu|cuda]
#include <map>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/cuda_device.h"
#include "core/error.h"
#include "quant/gguf_quantize.h"
#include "quant/gptq_model.h"

namespace si::cli {
namespace {

// --device cuda: GPTQ's backend from the CUDA module (checked before anything is loaded).
void gptq_use_device(const std::string& device, GptqModelOptions& g) {
  if (const CudaModule* cuda = cuda_module_for(device)) g.backend = cuda->make_gptq_backend;
}

std::string stage_str(const char* name, const GptqStageTime& t) {
  return fmt::format("{} {:.1f}/{:.1f}", name, t.wall, t.cpu);
}

void run_gptq(const GgufQuantizeOptions& o, GptqModelOptions& g, const std::string& device) {
  if (g.calib.empty()) fail("--to {}: GPTQ needs calibration rows: --calib FILE (a datagen JSONL split)", o.to);
  gptq_parse_target(o.to, g.gptq);
  gptq_use_device(device, g);
  g.model = o.model, g.out = o.out, g.threads = o.threads, g.quiet = o.quiet;
  const GptqModelResult r = gptq_quantize_model(g);
  // Mean relative output error ||WX - QX||^2 / ||WX||^2 per projection, and the worst Linear.
  std::map<std::string, std::pair<double, int>> by_name;
  const GptqLinearReport* worst = nullptr;
  for (const auto& l : r.linears) {
    by_name[l.name].first += l.rel_err;
    by_name[l.name].second++;
    if (!worst || l.rel_err > worst->rel_err) worst = &l;
  }
  std::string errs;
  for (const auto& [name, e] : by_name) errs += fmt::format("{}{} {:.2e}", errs.empty() ? "" : ", ", name, e.first / e.second);
  fmt::print("{}: {} {} Linears from {} samples ({} tokens), {:.1f} MiB, {:.1f} s ({:.1f} s quantizing)\n", o.out,
             g.rtn ? "RTN" : "GPTQ", r.linears.size(), r.samples, r.tokens, double(r.bytes_out) / (1 << 20), r.seconds,
             r.quantize_seconds);
  fmt::print("mean relative error ||WX-QX||^2/||WX||^2: {}\n", errs);
  if (worst) fmt::print("worst: layer {} {} {:.2e}\n", worst->layer, worst->name, worst->rel_err);
  const GptqStages& s = r.stages;
  fmt::print("stages (wall s / process cpu s): {}, {}, {}, {}, {} (Cholesky {:.1f} wall), {}, {}\n",
             stage_str("calibration", s.calib), stage_str("weights", s.load), stage_str("forward", s.forward),
             stage_str("hessian", s.hessian), stage_str("solve", s.quantize), s.factor_wall, stage_str("pack", s.pack),
             stage_str("write", s.write));
  fmt::print("peak RSS {:.2f} GiB{}{}\n", double(r.peak_rss_bytes) / (1 << 30), r.memory_note.empty() ? "" : "; ",
             r.memory_note);
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantize a model (HF safetensors dir or F32/F16/BF16 GGUF) to GGUF or GPTQ");
  auto o = std::make_shared<GgufQuantizeOptions>();
  auto g = std::make_shared<GptqModelOptions>();
  auto device = std::make_shared<std::string>("cpu");
  o->threads = 1;
  cmd->add_option("--model,-m", o->model, "HF directory (config.json + *.safetensors + tokenizer.json) or .gguf")->required();
  cmd->add_option("--to", o->to, "gguf:F32|F16|BF16|Q8_0|Q4_0|Q4_K_M|Q5_K_M|Q6_K or gptq:BITS:GROUP[:act][:asym]")->required();
  cmd->add_option("--out,-o", o->out, "output .gguf file, or GPTQ directory (written atomically)")->required();
  cmd->add_option("--threads,-t", o->threads, "threads")->check(CLI::Range(1, 1024));
  cmd->add_option("--name", o->name, "general.name for HF input (default: the directory name)");
  cmd->add_flag("--quiet,-q", o->quiet, "no progress line");
  cmd->add_option("--calib", g->calib, "gptq: calibration rows (datagen JSONL, e.g. data-run/train.jsonl)");
  cmd->add_option("--samples", g->samples, "gptq: calibration samples (the first N rows)")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--task", g->task, "gptq: task spec of the calibration rows")->capture_default_str();
  cmd->add_option("--tokenizer", g->tokenizer, "gptq: tokenizer.json or directory (default: the model's)");
  cmd->add_option("--damp", g->gptq.damp_percent, "gptq: dampening, fraction of the mean Hessian diagonal")->capture_default_str()->check(CLI::Range(1e-6, 0.99));
  cmd->add_flag("--rtn", g->rtn, "gptq: round to nearest on the same grid instead of GPTQ (for comparison)");
  cmd->add_flag("--v2", [g](int64_t) { g->format = GptqFormat::v2; }, "gptq: write GPTQModel's gptq_v2 zero points (default: v1 \"gptq\")");
  cmd->add_option("--device", *device, "gptq: cpu, or cuda (calibration forward, Hessians and solve on the GPU; CUDA builds only)")
      ->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->callback([o, g, device] {
    if (o->to.rfind("gptq:", 0) == 0) return run_gptq(*o, *g, *device);
    if (*device != "cpu") fail("--device {}: only GPTQ quantization runs on a GPU; GGUF quantization is CPU work", *device);
    if (o->to.rfind("gguf:", 0) != 0 && o->to.find(':') != std::string::npos)
      fail("--to {}: this command writes GGUF; use gguf:<TYPE> (F16, BF16, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K)", o->to);
    const GgufQuantizeResult r = gguf_quantize(*o);
    std::string types;
    for (const auto& [t, n] : r.tensors_per_type) types += fmt::format("{}{} {}", types.empty() ? "" : ", ", n, t);
    fmt::print("{}: {} tensors ({}), {:.1f} MiB -> {:.1f} MiB in {:.1f} s\n", o->out, r.n_tensors, types,
               double(r.bytes_in) / (1 << 20), double(r.bytes_out) / (1 << 20), r.seconds);
  });
}

}  // namespace si::cli
