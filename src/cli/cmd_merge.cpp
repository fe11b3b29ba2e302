// shopintent merge --base M --adapter RUN --out DIR [--dtype f16|bf16|f32] [--merge-onto nf4|original]
//
// Folds a LoRA/QLoRA adapter into its base and writes a Hugging Face directory. QLoRA runs merge onto
// the NF4-dequantized base by default (the function that was trained); `--merge-onto original` uses
// the 16-bit base and prints how far the two bases are apart.
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/dtype.h"
#include "core/error.h"
#include "train/merge.h"

namespace si::cli {

void register_merge(CLI::App& app) {
  struct Args {
    train::MergeOptions o;
    std::string dtype = "bf16", onto = "auto";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("merge", "Merge a LoRA/QLoRA adapter into its base model (HF safetensors directory out)");
  cmd->add_option("--base", a->o.base, "base model: Hugging Face directory")->required();
  cmd->add_option("--adapter", a->o.adapter, "adapter directory (a train run or a peft adapter)")->required();
  cmd->add_option("--out", a->o.out, "new output directory")->required();
  cmd->add_option("--dtype", a->dtype, "f16, bf16 or f32")->capture_default_str()->check(CLI::IsMember({"f16", "bf16", "f32"}));
  cmd->add_option("--merge-onto", a->onto, "nf4, original or auto (nf4 for qlora runs)")
      ->capture_default_str()
      ->check(CLI::IsMember({"nf4", "original", "auto"}));
  cmd->callback([a] {
    a->o.dtype = a->dtype == "f16" ? DType::F16 : a->dtype == "bf16" ? DType::BF16 : DType::F32;
    a->o.onto = a->onto == "nf4" ? train::MergeOnto::nf4 : a->onto == "original" ? train::MergeOnto::original : train::MergeOnto::automatic;
    const train::MergeReport r = train::merge_adapter(a->o);
    fmt::print("{}: merged {} adapted weights onto the {} base ({}){}\n", a->o.out, r.merged_tensors,
               r.onto_nf4 ? "NF4-dequantized" : "original", a->dtype,
               r.onto_nf4 ? fmt::format(", NF4 base differs from the original by {:.2f}% relative RMS", 100 * r.nf4_rel_rms) : "");
  });
}

}  // namespace si::cli
