// shopintent — multilingual shopping-cart intent engine. `shopintent --help` lists the commands.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"shopintent: turn customer messages into shopping-cart actions with a small LLM"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");
  si::cli::register_all(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const si::Error& e) {
    fmt::print(stderr, "shopintent: error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "shopintent: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "shopintent: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
