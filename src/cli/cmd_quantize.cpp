// shopintent quantize --model M --to gguf:Q4_K_M --out FILE [-t N] [--name NAME]
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "quant/gguf_quantize.h"

namespace si::cli {

void register_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantize a model (HF safetensors dir or F32/F16/BF16 GGUF) to GGUF");
  auto o = std::make_shared<GgufQuantizeOptions>();
  o->threads = 1;
  cmd->add_option("--model,-m", o->model, "HF directory (config.json + *.safetensors + tokenizer.json) or .gguf")->required();
  cmd->add_option("--to", o->to, "gguf:F32|F16|BF16|Q8_0|Q4_0|Q4_K_M|Q5_K_M|Q6_K")->required();
  cmd->add_option("--out,-o", o->out, "output .gguf file (written atomically)")->required();
  cmd->add_option("--threads,-t", o->threads, "threads")->check(CLI::Range(1, 1024));
  cmd->add_option("--name", o->name, "general.name for HF input (default: the directory name)");
  cmd->add_flag("--quiet,-q", o->quiet, "no progress line");
  cmd->callback([o] {
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
