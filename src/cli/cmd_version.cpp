#include <fmt/format.h>

#include "cli/commands.h"
#include "core/system.h"

#ifndef SHOPINTENT_VERSION
#define SHOPINTENT_VERSION "dev"
#endif

namespace si::cli {

void register_version(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the version and the CPU features in use");
  cmd->callback([] {
    fmt::print("shopintent {}\ncpu: {}\ncuda: {}\n", SHOPINTENT_VERSION, cpu_features_str(),
#ifdef SHOPINTENT_HAVE_CUDA
               "built"
#else
               "not built"
#endif
    );
  });
}

}  // namespace si::cli
