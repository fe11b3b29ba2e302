#include <fmt/format.h>

#include "cli/commands.h"
#include "core/system.h"
#include "intent/cuda_module.h"

#ifndef SHOPINTENT_VERSION
#define SHOPINTENT_VERSION "dev"
#endif

namespace si::cli {

void register_version(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the version and the CPU features in use");
  cmd->callback([] {
    fmt::print("shopintent {}\ncpu: {}\ncuda: {}\n", SHOPINTENT_VERSION, cpu_features_str(),
#ifdef SHOPINTENT_HAVE_CUDA
               // Not loaded here: `version` stays as small as a CPU-only build.
               fmt::format("built, backend module {} (loaded by --device cuda)", cuda_module_path())
#else
               "not built"
#endif
    );
  });
}

}  // namespace si::cli
